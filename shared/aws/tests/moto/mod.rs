//! A `moto_server` child process on a free loopback port, killed on drop.
// Each test binary uses a different part of the harness.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
/// moto's default account.
pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = match Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "moto_server is not on PATH: run these tests through scripts/test, \
                 which installs moto[server] into ~/.cache/likeness/venv and puts it on PATH"
            ),
            Err(e) => panic!("could not start moto_server: {e}"),
        };
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited early with {status}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    pub fn sdk_config(&self) -> aws_config::SdkConfig {
        likeness_aws::local_sdk_config(&self.url, "test", "test", REGION)
    }

    /// Turns on moto's ASL interpreter; by default its Step Functions return canned data.
    pub async fn execute_state_machines(&self) {
        let response = reqwest::Client::new()
            .post(format!("{}/moto-api/config", self.url))
            .json(&serde_json::json!({"stepfunctions": {"execute_state_machine": true}}))
            .send()
            .await
            .expect("moto config request");
        assert!(
            response.status().is_success(),
            "moto config: {}",
            response.status()
        );
    }
}

impl Moto {
    /// An S3 client for moto (path-style addressing: moto serves one host).
    pub fn s3(&self) -> aws_sdk_s3::Client {
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&self.sdk_config())
                .force_path_style(true)
                .build(),
        )
    }

    pub async fn create_bucket(&self, name: &str) {
        self.s3()
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .expect("create bucket");
    }

    /// A queue; returns its URL.
    pub async fn create_queue(&self, name: &str) -> String {
        aws_sdk_sqs::Client::new(&self.sdk_config())
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("create queue")
            .queue_url
            .expect("queue url")
    }

    /// S3 announces every object created under `uploads/` in `bucket` on the
    /// SQS queue `queue` (its ARN in moto's account), as the template wires it.
    pub async fn notify_uploads(&self, bucket: &str, queue: &str) {
        use aws_sdk_s3::types::{
            Event, FilterRule, FilterRuleName, NotificationConfiguration,
            NotificationConfigurationFilter, QueueConfiguration, S3KeyFilter,
        };
        let uploads_only = NotificationConfigurationFilter::builder()
            .key(
                S3KeyFilter::builder()
                    .filter_rules(
                        FilterRule::builder()
                            .name(FilterRuleName::Prefix)
                            .value("uploads/")
                            .build(),
                    )
                    .build(),
            )
            .build();
        self.s3()
            .put_bucket_notification_configuration()
            .bucket(bucket)
            .notification_configuration(
                NotificationConfiguration::builder()
                    .queue_configurations(
                        QueueConfiguration::builder()
                            .id("uploads-to-analyze")
                            .queue_arn(format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{queue}"))
                            .events(Event::from("s3:ObjectCreated:*"))
                            .filter(uploads_only)
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .send()
            .await
            .expect("bucket notification");
    }

    /// The single table as infra/template.yaml declares it: keys, both GSIs
    /// and the `expires_at` TTL.
    pub async fn create_table(&self, name: &str) -> likeness_aws::DynamoRecords {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
            Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
        };
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .unwrap()
        };
        let gsi = |index: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(index)
                .key_schema(key(&format!("{index}PK"), KeyType::Hash))
                .key_schema(key(&format!("{index}SK"), KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .unwrap()
        };
        let ddb = aws_sdk_dynamodb::Client::new(&self.sdk_config());
        let mut create = ddb
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("PK", KeyType::Hash))
            .key_schema(key("SK", KeyType::Range))
            .global_secondary_indexes(gsi("GSI1"))
            .global_secondary_indexes(gsi("GSI2"));
        for attribute in ["PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"] {
            create = create.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attribute)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            );
        }
        create.send().await.expect("create table");
        ddb.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expires_at")
                    .enabled(true)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("enable ttl");
        likeness_aws::DynamoRecords::from_sdk_config(&self.sdk_config(), name)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
