//! A SHA-256 manifest of a model folder (`SHA256SUMS`, in `sha256sum` format so that
//! `sha256sum -c SHA256SUMS` checks it too): written once an operator has checked a
//! folder, verified before it is trusted again.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::LoadError;

/// File name of the manifest inside the model folder.
pub const MANIFEST: &str = "SHA256SUMS";

/// One file of the folder that does not match the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestProblem {
    /// Listed, but its contents changed.
    Changed { path: String },
    /// Listed, but absent.
    Missing { path: String },
    /// Present, but not listed.
    Unlisted { path: String },
}

impl fmt::Display for ManifestProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ManifestProblem::Changed { path } => {
                write!(f, "{path}: SHA-256 differs from {MANIFEST}")
            }
            ManifestProblem::Missing { path } => {
                write!(f, "{path}: listed in {MANIFEST} but missing")
            }
            ManifestProblem::Unlisted { path } => write!(f, "{path}: not listed in {MANIFEST}"),
        }
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> LoadError + '_ {
    move |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Every regular file under `dir` (following links, as model caches use them), as
/// `/`-separated relative paths in sorted order, the manifest itself excluded.
fn files(dir: &Path) -> Result<Vec<String>, LoadError> {
    fn walk(root: &Path, at: &Path, out: &mut Vec<String>) -> Result<(), LoadError> {
        for entry in std::fs::read_dir(at).map_err(io(at))? {
            let path = entry.map_err(io(at))?.path();
            let meta = std::fs::metadata(&path).map_err(io(&path))?;
            if meta.is_dir() {
                walk(root, &path, out)?;
            } else if meta.is_file() {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(rel.join("/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out)?;
    out.retain(|p| p != MANIFEST);
    out.sort();
    Ok(out)
}

/// Hex SHA-256 of one file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, LoadError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Hashes every file of `dir` and writes `dir/SHA256SUMS`; returns its path.
pub fn write(dir: &Path) -> Result<PathBuf, LoadError> {
    let mut text = String::new();
    for rel in files(dir)? {
        let sum = sha256_file(&dir.join(&rel))?;
        text.push_str(&format!("{sum}  {rel}\n"));
    }
    let path = dir.join(MANIFEST);
    // Written beside and renamed, so a crash never leaves a half manifest.
    let tmp = dir.join(format!("{MANIFEST}.tmp"));
    std::fs::write(&tmp, text).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    Ok(path)
}

/// Compares `dir` with its manifest: `Ok(None)` when there is no manifest, otherwise
/// every problem found (empty when the folder matches).
pub fn verify(dir: &Path) -> Result<Option<Vec<ManifestProblem>>, LoadError> {
    let path = dir.join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(&path)(e)),
    };
    let mut listed = std::collections::BTreeMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let (sum, rel) = line
            .split_once("  ")
            .filter(|(s, r)| {
                s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) && !r.is_empty()
            })
            .ok_or_else(|| LoadError::Config {
                path: path.clone(),
                message: format!("line {}: expected `<sha256>  <path>`", n + 1),
            })?;
        listed.insert(rel.to_string(), sum.to_ascii_lowercase());
    }
    let present = files(dir)?;
    let mut problems = Vec::new();
    for (rel, sum) in &listed {
        let file = dir.join(rel);
        if !file.is_file() {
            problems.push(ManifestProblem::Missing { path: rel.clone() });
        } else if &sha256_file(&file)? != sum {
            problems.push(ManifestProblem::Changed { path: rel.clone() });
        }
    }
    for rel in present {
        if !listed.contains_key(&rel) {
            problems.push(ManifestProblem::Unlisted { path: rel });
        }
    }
    Ok(Some(problems))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_manifest_verifies_and_catches_changes() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("unet")).unwrap();
        std::fs::write(d.join("unet/config.json"), "{}").unwrap();
        std::fs::write(d.join("a.txt"), "abc").unwrap();
        assert_eq!(verify(d).unwrap(), None);
        write(d).unwrap();
        let text = std::fs::read_to_string(d.join(MANIFEST)).unwrap();
        // sha256("abc"), the standard test vector
        assert!(text.starts_with(
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  a.txt\n"
        ));
        assert_eq!(verify(d).unwrap(), Some(vec![]));

        std::fs::write(d.join("a.txt"), "abd").unwrap();
        std::fs::remove_file(d.join("unet/config.json")).unwrap();
        std::fs::write(d.join("extra.bin"), "x").unwrap();
        assert_eq!(
            verify(d).unwrap(),
            Some(vec![
                ManifestProblem::Changed {
                    path: "a.txt".into()
                },
                ManifestProblem::Missing {
                    path: "unet/config.json".into()
                },
                ManifestProblem::Unlisted {
                    path: "extra.bin".into()
                },
            ])
        );
    }
}
