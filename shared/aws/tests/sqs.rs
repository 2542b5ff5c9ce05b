//! SqsQueue against moto: redelivery after the visibility timeout, DLQ via the
//! redrive policy the infrastructure sets, receipt handling.

mod moto;

use likeness_aws::SqsQueue;
use likeness_core::PortError;
use likeness_core::ports::Queue;
use std::time::Duration;

const NO_WAIT: Duration = Duration::ZERO;

async fn queue_with_dlq(moto: &moto::Moto, name: &str, max_receives: u32) -> String {
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk_config());
    let dlq_name = format!("{name}-dlq");
    let dlq_url = sqs
        .create_queue()
        .queue_name(&dlq_name)
        .send()
        .await
        .expect("create dlq")
        .queue_url
        .expect("dlq url");
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("dlq attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("dlq arn");
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receives.to_string(),
    });
    sqs.create_queue()
        .queue_name(name)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::RedrivePolicy,
            redrive.to_string(),
        )
        .send()
        .await
        .expect("create queue");
    dlq_name
}

#[tokio::test]
async fn unacknowledged_messages_come_back_then_go_to_the_dead_letter_queue() {
    let moto = moto::Moto::start();
    let dlq = queue_with_dlq(&moto, "render", 2).await;
    let queue = SqsQueue::from_sdk_config(&moto.sdk_config());

    let sent = queue
        .send("render", r#"{"style":"watercolor"}"#, Duration::ZERO)
        .await
        .unwrap();

    let first = queue
        .receive("render", 10, Duration::from_secs(1), NO_WAIT)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].id, sent);
    assert_eq!(first[0].receive_count, 1);
    assert_eq!(first[0].body, r#"{"style":"watercolor"}"#);

    // Invisible until the timeout passes, then redelivered with a higher count.
    assert!(
        queue
            .receive("render", 10, Duration::from_secs(1), NO_WAIT)
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = queue
        .receive("render", 10, Duration::from_secs(1), NO_WAIT)
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].receive_count, 2);

    // Past maxReceiveCount the redrive policy moves it to the DLQ.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(
        queue
            .receive("render", 10, Duration::from_secs(1), NO_WAIT)
            .await
            .unwrap()
            .is_empty()
    );
    let dead = queue
        .receive(&dlq, 10, Duration::from_secs(30), NO_WAIT)
        .await
        .unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, sent);
    queue.delete(&dlq, &dead[0].receipt_handle).await.unwrap();
    assert!(
        queue
            .receive(&dlq, 10, Duration::from_secs(30), NO_WAIT)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn deleted_messages_stay_gone_and_visibility_can_be_extended() {
    let moto = moto::Moto::start();
    queue_with_dlq(&moto, "uploads", 3).await;
    let queue = SqsQueue::from_sdk_config(&moto.sdk_config());

    queue.send("uploads", "a", Duration::ZERO).await.unwrap();
    queue.send("uploads", "b", Duration::ZERO).await.unwrap();
    let got = queue
        .receive(
            "uploads",
            10,
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    let (a, b) = if got[0].body == "a" {
        (&got[0], &got[1])
    } else {
        (&got[1], &got[0])
    };
    queue.delete("uploads", &a.receipt_handle).await.unwrap();
    queue
        .change_visibility("uploads", &b.receipt_handle, Duration::from_secs(30))
        .await
        .unwrap();

    tokio::time::sleep(Duration::from_millis(1500)).await;
    // a was deleted; b's extended visibility has not run out.
    assert!(
        queue
            .receive("uploads", 10, Duration::from_secs(1), NO_WAIT)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn bad_arguments_and_missing_queues_are_named_errors() {
    let moto = moto::Moto::start();
    let queue = SqsQueue::from_sdk_config(&moto.sdk_config());
    let err = queue.send("nope", "x", Duration::ZERO).await.unwrap_err();
    assert!(matches!(err, PortError::NotFound(_)), "{err:?}");
    let err = queue
        .receive("nope", 11, Duration::from_secs(1), NO_WAIT)
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Invalid(_)), "{err:?}");
    let err = queue
        .receive("nope", 1, Duration::from_secs(1), Duration::from_secs(21))
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Invalid(_)), "{err:?}");
}
