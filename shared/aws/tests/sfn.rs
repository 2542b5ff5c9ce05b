//! StepFunctionsWorkflow against moto's ASL interpreter: executions named by
//! preview id start once, and a render-style SQS task token is settled through
//! the adapter (the `.waitForTaskToken` callback the GPU workers use).

mod moto;

use likeness_aws::{SqsQueue, StepFunctionsWorkflow};
use likeness_core::PortError;
use likeness_core::ports::{Queue, StartOutcome, Workflow};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

async fn callback_machine(moto: &moto::Moto, queue_url: &str) -> String {
    let definition = json!({
        "StartAt": "Render",
        "States": {
            "Render": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {
                    "QueueUrl": queue_url,
                    "MessageBody": {"TaskToken.$": "$$.Task.Token", "preview_id.$": "$.preview_id"}
                },
                "HeartbeatSeconds": 60,
                "ResultPath": "$.render",
                "Next": "Done"
            },
            "Done": {"Type": "Pass", "End": true}
        }
    });
    aws_sdk_sfn::Client::new(&moto.sdk_config())
        .create_state_machine()
        .name("preview")
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/likeness-sfn")
        .send()
        .await
        .expect("create state machine")
        .state_machine_arn
}

async fn render_queue(moto: &moto::Moto) -> String {
    aws_sdk_sqs::Client::new(&moto.sdk_config())
        .create_queue()
        .queue_name("render")
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url")
}

async fn wait_for_end(moto: &moto::Moto, arn: &str) -> (String, Option<Value>) {
    let sfn = aws_sdk_sfn::Client::new(&moto.sdk_config());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .expect("describe");
        let status = out.status.as_str().to_owned();
        if status != "RUNNING" {
            let output = out
                .output
                .map(|o| serde_json::from_str(&o).expect("output json"));
            return (status, output);
        }
        assert!(
            Instant::now() < deadline,
            "execution still RUNNING after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// moto's interpreter puts the task message on SQS a moment before it registers
/// the token, so the first heartbeat can see `InvalidToken` (AWS registers
/// first). Retry briefly; a token that never becomes valid fails the test.
async fn first_heartbeat(workflow: &StepFunctionsWorkflow, token: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match workflow.send_task_heartbeat(token).await {
            Ok(()) => return,
            Err(PortError::Conflict(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("heartbeat for a waiting task failed: {e}"),
        }
    }
}

#[tokio::test]
async fn an_execution_per_preview_and_the_task_token_callback() {
    let moto = moto::Moto::start();
    moto.execute_state_machines().await;
    let queue_url = render_queue(&moto).await;
    let machine = callback_machine(&moto, &queue_url).await;
    let workflow = StepFunctionsWorkflow::from_sdk_config(&moto.sdk_config(), &machine);
    let queue = SqsQueue::from_sdk_config(&moto.sdk_config());

    let input = json!({"preview_id": "pv_0001"});
    assert_eq!(
        workflow
            .start_execution("pv_0001", input.clone())
            .await
            .unwrap(),
        StartOutcome::Started
    );
    // A redelivered upload notification carries the same preview id.
    assert_eq!(
        workflow
            .start_execution("pv_0001", json!({"preview_id": "pv_0001", "again": true}))
            .await
            .unwrap(),
        StartOutcome::AlreadyRunning
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let message = loop {
        let got = queue
            .receive(
                &queue_url,
                1,
                Duration::from_secs(60),
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        if let Some(m) = got.into_iter().next() {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no render task on the queue after 20 s"
        );
    };
    let body: Value = serde_json::from_str(&message.body).unwrap();
    assert_eq!(body["preview_id"], "pv_0001");
    let token = body["TaskToken"].as_str().expect("task token").to_owned();

    first_heartbeat(&workflow, &token).await;
    workflow
        .send_task_success(&token, json!({"candidates": 2}))
        .await
        .unwrap();
    queue
        .delete(&queue_url, &message.receipt_handle)
        .await
        .unwrap();

    let arn = machine.replace(":stateMachine:", ":execution:") + ":pv_0001";
    let (status, output) = wait_for_end(&moto, &arn).await;
    assert_eq!(status, "SUCCEEDED");
    assert_eq!(output.unwrap()["render"], json!({"candidates": 2}));

    // A duplicate delivery of the same task settles again: done, not an error.
    workflow
        .send_task_success(&token, json!({"candidates": 2}))
        .await
        .unwrap();
    // Step Functions answers a heartbeat on a closed task with TaskTimedOut (a
    // Conflict: the worker stops); moto 5.2 answers InvalidToken, which it also
    // gives for a waiting task without HeartbeatSeconds, so the adapter reads a
    // heartbeat's InvalidToken as no news.
    workflow.send_task_heartbeat(&token).await.unwrap();
}

#[tokio::test]
async fn failing_a_task_fails_the_execution_with_its_error() {
    let moto = moto::Moto::start();
    moto.execute_state_machines().await;
    let queue_url = render_queue(&moto).await;
    let machine = callback_machine(&moto, &queue_url).await;
    let workflow = StepFunctionsWorkflow::from_sdk_config(&moto.sdk_config(), &machine);
    let queue = SqsQueue::from_sdk_config(&moto.sdk_config());

    workflow
        .start_execution("pv_0002", json!({"preview_id": "pv_0002"}))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let message = loop {
        let got = queue
            .receive(
                &queue_url,
                1,
                Duration::from_secs(60),
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        if let Some(m) = got.into_iter().next() {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no render task on the queue after 20 s"
        );
    };
    let body: Value = serde_json::from_str(&message.body).unwrap();
    let token = body["TaskToken"].as_str().unwrap();
    first_heartbeat(&workflow, token).await;
    workflow
        .send_task_failure(token, "GpuOOM", "out of memory at 1024px")
        .await
        .unwrap();
    let arn = machine.replace(":stateMachine:", ":execution:") + ":pv_0002";
    assert_eq!(wait_for_end(&moto, &arn).await.0, "FAILED");
}

#[tokio::test]
async fn a_missing_state_machine_is_a_backend_error() {
    let moto = moto::Moto::start();
    let workflow = StepFunctionsWorkflow::from_sdk_config(
        &moto.sdk_config(),
        "arn:aws:states:us-east-1:123456789012:stateMachine:absent",
    );
    let err = workflow
        .start_execution("pv_0003", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, PortError::Backend(_)), "{err:?}");
}
