//! The S3 event notification as S3 delivers it to SQS (`Records[].s3.object.key` is
//! URL-encoded, spaces as `+`). The embedded object server emits exactly this shape,
//! so the analyze handler reads one format everywhere.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct S3EventNotification {
    #[serde(rename = "Records", default)]
    pub records: Vec<S3EventRecord>,
    /// S3 sends `{"Event":"s3:TestEvent",...}` once when a notification is configured.
    #[serde(rename = "Event", default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3EventRecord {
    pub event_version: String,
    pub event_source: String,
    pub aws_region: String,
    #[serde(deserialize_with = "utc_time")]
    pub event_time: DateTime<Utc>,
    pub event_name: String,
    pub s3: S3Entity,
}

/// S3 writes `eventTime` as RFC 3339 in UTC (`...Z`); some emulators (moto
/// before 5.2.5) leave the zone off. A time without a zone is read as UTC,
/// which is what S3 means; anything else that is not a time is refused.
fn utc_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let text = String::deserialize(d)?;
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Ok(t.with_timezone(&Utc));
    }
    chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
        .map(|t| t.and_utc())
        .map_err(|e| serde::de::Error::custom(format!("eventTime `{text}`: {e}")))
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Entity {
    pub s3_schema_version: String,
    pub configuration_id: String,
    pub bucket: S3Bucket,
    pub object: S3Object,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Bucket {
    pub name: String,
    pub arn: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Object {
    /// URL-encoded as S3 sends it; use [`S3Object::decoded_key`].
    pub key: String,
    #[serde(default)]
    pub size: u64,
    #[serde(default)]
    pub e_tag: String,
    #[serde(default)]
    pub sequencer: String,
}

/// Characters S3 leaves unescaped in event keys (RFC 3986 unreserved, plus `/`).
const KEY_ESCAPES: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

impl S3Object {
    pub fn decoded_key(&self) -> String {
        let plus_as_space = self.key.replace('+', " ");
        percent_encoding::percent_decode_str(&plus_as_space)
            .decode_utf8_lossy()
            .into_owned()
    }

    pub fn encode_key(key: &str) -> String {
        percent_encoding::utf8_percent_encode(key, KEY_ESCAPES)
            .to_string()
            .replace("%20", "+")
    }
}

impl S3EventRecord {
    /// An `ObjectCreated:Put` record as S3 would send it.
    pub fn object_created_put(
        region: &str,
        bucket: &str,
        key: &str,
        size: u64,
        e_tag: &str,
        sequencer: &str,
        at: DateTime<Utc>,
    ) -> Self {
        S3EventRecord {
            event_version: "2.1".into(),
            event_source: "aws:s3".into(),
            aws_region: region.into(),
            event_time: at,
            event_name: "ObjectCreated:Put".into(),
            s3: S3Entity {
                s3_schema_version: "1.0".into(),
                configuration_id: "likeness-uploads".into(),
                bucket: S3Bucket {
                    name: bucket.into(),
                    arn: format!("arn:aws:s3:::{bucket}"),
                },
                object: S3Object {
                    key: S3Object::encode_key(key),
                    size,
                    e_tag: e_tag.into(),
                    sequencer: sequencer.into(),
                },
            },
        }
    }

    pub fn is_object_created(&self) -> bool {
        self.event_name.starts_with("ObjectCreated:")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_like_s3_and_decode_back() {
        let key = "uploads/acme/pv 1/photo+x.jpg";
        let encoded = S3Object::encode_key(key);
        assert_eq!(encoded, "uploads/acme/pv+1/photo%2Bx.jpg");
        let object = S3Object {
            key: encoded,
            size: 1,
            e_tag: String::new(),
            sequencer: String::new(),
        };
        assert_eq!(object.decoded_key(), key);
    }

    #[test]
    fn an_event_time_without_a_zone_is_utc_and_garbage_is_refused() {
        let record = |time: &str| {
            format!(
                r#"{{"Records":[{{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
                "eventTime":"{time}","eventName":"ObjectCreated:Put","s3":{{"s3SchemaVersion":"1.0",
                "configurationId":"c","bucket":{{"name":"b","arn":"arn:aws:s3:::b"}},
                "object":{{"key":"k","size":1}}}}}}]}}"#
            )
        };
        let zoned: S3EventNotification =
            serde_json::from_str(&record("2026-11-26T13:09:20.929Z")).unwrap();
        let naive: S3EventNotification =
            serde_json::from_str(&record("2026-11-26T13:09:20.929")).unwrap();
        assert_eq!(zoned.records[0].event_time, naive.records[0].event_time);
        let micros: S3EventNotification =
            serde_json::from_str(&record("2026-11-26T13:09:20.929502")).unwrap();
        assert_eq!(
            micros.records[0].event_time.timestamp_micros() % 1_000_000,
            929_502
        );
        let err = serde_json::from_str::<S3EventNotification>(&record("yesterday")).unwrap_err();
        assert!(err.to_string().contains("eventTime `yesterday`"), "{err}");
    }

    #[test]
    fn parses_the_shape_s3_sends() {
        let json = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
          "eventTime":"2026-01-01T00:00:00.000Z","eventName":"ObjectCreated:Put",
          "userIdentity":{"principalId":"AWS:X"},"requestParameters":{"sourceIPAddress":"1.2.3.4"},
          "s3":{"s3SchemaVersion":"1.0","configurationId":"c","bucket":{"name":"b","ownerIdentity":{"principalId":"X"},"arn":"arn:aws:s3:::b"},
          "object":{"key":"uploads%2Facme%2Fphoto","size":12,"eTag":"e","sequencer":"01"}}}]}"#;
        let event: S3EventNotification = serde_json::from_str(json).unwrap();
        assert_eq!(
            event.records[0].s3.object.decoded_key(),
            "uploads/acme/photo"
        );
        assert!(event.records[0].is_object_created());
    }
}
