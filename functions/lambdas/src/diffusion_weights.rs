//! Diffusion weights for the render container, from S3 to instance storage.
//!
//! The weights (several GB) are not baked into the image: the template names an
//! S3 prefix (`DiffusionWeightsBucket`/`DiffusionWeightsPrefix`) holding a
//! diffusers-format folder and its `SHA256SUMS` (the diffusion crate's
//! manifest, `sha256sum` format). When a task starts, every listed file is
//! copied to `LIKENESS_DIFFUSION_MODEL` (a host volume, so a task that starts
//! on an instance that already holds them copies nothing) and checked against
//! the manifest before the engine loads it. A missing file, a mismatch or an
//! unreadable manifest stops the worker with one error naming the file:
//! rendering with weights nobody vouched for is worse than not rendering.

use aws_sdk_s3::Client;
use likeness_diffusion::manifest::{MANIFEST, sha256_file};
use std::path::{Component, Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// `s3://bucket/prefix` of the weights folder; unset or empty: no download.
pub const WEIGHTS_S3: &str = "LIKENESS_DIFFUSION_WEIGHTS_S3";

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("{WEIGHTS_S3} must look like s3://bucket/prefix, got `{0}`")]
    BadUri(String),
    #[error("diffusion weights: cannot read s3://{bucket}/{key}: {reason}")]
    Download {
        bucket: String,
        key: String,
        reason: String,
    },
    #[error("diffusion weights: {MANIFEST} line {line}: {reason}")]
    Manifest { line: usize, reason: String },
    #[error(
        "diffusion weights: {path} has SHA-256 {actual}, {MANIFEST} says {expected}; \
         the worker will not load weights that differ from their manifest"
    )]
    Mismatch {
        path: String,
        expected: String,
        actual: String,
    },
    #[error("diffusion weights: {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a fetch did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Fetched {
    pub downloaded: Vec<String>,
    pub already_present: Vec<String>,
    pub bytes_downloaded: u64,
}

fn parse_uri(uri: &str) -> Result<(String, String), WeightsError> {
    let rest = uri
        .strip_prefix("s3://")
        .ok_or_else(|| WeightsError::BadUri(uri.to_owned()))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(WeightsError::BadUri(uri.to_owned()));
    }
    Ok((bucket.to_owned(), prefix.trim_end_matches('/').to_owned()))
}

/// `(sha256, relative path)` per line; paths must stay inside the folder.
fn parse_manifest(text: &str) -> Result<Vec<(String, String)>, WeightsError> {
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: &str| WeightsError::Manifest {
            line: n + 1,
            reason: reason.to_owned(),
        };
        let (sum, path) = line
            .split_once("  ")
            .ok_or_else(|| bad("expected `<sha256>  <path>`"))?;
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("not a SHA-256"));
        }
        let inside = Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if path.is_empty() || !inside {
            return Err(bad("path leaves the weights folder"));
        }
        entries.push((sum.to_ascii_lowercase(), path.to_owned()));
    }
    if entries.is_empty() {
        return Err(WeightsError::Manifest {
            line: 0,
            reason: "lists no files".into(),
        });
    }
    Ok(entries)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WeightsError + '_ {
    move |source| WeightsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

async fn download(s3: &Client, bucket: &str, key: &str, to: &Path) -> Result<u64, WeightsError> {
    let failed = |reason: String| WeightsError::Download {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        reason,
    };
    let object = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| failed(aws_sdk_s3::error::DisplayErrorContext(&e).to_string()))?;
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(io(parent))?;
    }
    let mut file = tokio::fs::File::create(to).await.map_err(io(to))?;
    let mut body = object.body;
    let mut bytes = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(|e| failed(e.to_string()))? {
        bytes += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(io(to))?;
    }
    file.flush().await.map_err(io(to))?;
    Ok(bytes)
}

fn checksum(path: &Path) -> Result<String, WeightsError> {
    sha256_file(path).map_err(|e| WeightsError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Makes `dir` hold exactly what the manifest at `uri` lists, verified.
pub async fn fetch(s3: &Client, uri: &str, dir: &Path) -> Result<Fetched, WeightsError> {
    let (bucket, prefix) = parse_uri(uri)?;
    let key = |rel: &str| {
        if prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{prefix}/{rel}")
        }
    };
    tokio::fs::create_dir_all(dir).await.map_err(io(dir))?;
    let manifest_part = dir.join(format!("{MANIFEST}.download"));
    download(s3, &bucket, &key(MANIFEST), &manifest_part).await?;
    let text = tokio::fs::read_to_string(&manifest_part)
        .await
        .map_err(io(&manifest_part))?;
    let entries = parse_manifest(&text)?;
    let mut fetched = Fetched::default();
    for (expected, rel) in &entries {
        let path = dir.join(rel);
        if path.is_file() && checksum(&path)? == *expected {
            fetched.already_present.push(rel.clone());
            continue;
        }
        let part = dir.join(format!("{rel}.download"));
        fetched.bytes_downloaded += download(s3, &bucket, &key(rel), &part).await?;
        let actual = checksum(&part)?;
        if actual != *expected {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(WeightsError::Mismatch {
                path: rel.clone(),
                expected: expected.clone(),
                actual,
            });
        }
        tokio::fs::rename(&part, &path).await.map_err(io(&path))?;
        fetched.downloaded.push(rel.clone());
    }
    // The manifest goes in last: a folder with it is a folder that matched it.
    let manifest = dir.join(MANIFEST);
    tokio::fs::rename(&manifest_part, &manifest)
        .await
        .map_err(io(&manifest))?;
    Ok(fetched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_name_a_bucket_and_a_prefix() {
        assert_eq!(
            parse_uri("s3://models/diffusion/sd15/").unwrap(),
            ("models".into(), "diffusion/sd15".into())
        );
        assert_eq!(
            parse_uri("s3://models").unwrap(),
            ("models".into(), String::new())
        );
        assert!(parse_uri("https://models/x").is_err());
        assert!(parse_uri("s3:///x").is_err());
    }

    #[test]
    fn manifests_may_not_leave_the_folder() {
        let sum = "a".repeat(64);
        assert!(parse_manifest(&format!("{sum}  unet/model.safetensors\n")).is_ok());
        for bad in [
            format!("{sum}  ../etc/passwd"),
            format!("{sum}  /etc/passwd"),
            format!("{sum} one-space"),
            "xyz  file".to_owned(),
            String::new(),
        ] {
            assert!(parse_manifest(&bad).is_err(), "{bad:?} was accepted");
        }
    }
}
