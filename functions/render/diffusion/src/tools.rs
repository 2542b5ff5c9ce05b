//! Operator tooling for real weights: what a loaded folder holds
//! ([`ModelSummary`]), a whole-folder check ([`check_folder`]) and the conversion of
//! published IP-Adapter `.bin` files ([`convert_ip_adapter`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};

use crate::error::LoadError;
use crate::manifest::{self, ManifestProblem};
use crate::model::DiffusionModel;

/// One weight file of a loaded model.
#[derive(Debug, Clone)]
pub struct ComponentSummary {
    pub name: String,
    pub file: PathBuf,
    /// Library and version that wrote the component's config (`_diffusers_version`,
    /// `transformers_version`), when recorded.
    pub written_by: Option<String>,
    /// Stored dtypes and how many tensors have each.
    pub dtypes: BTreeMap<String, usize>,
    pub parameters: u64,
}

/// What [`DiffusionModel::load`] found and what will run.
#[derive(Debug, Clone)]
pub struct ModelSummary {
    pub dir: PathBuf,
    pub compute_dtype: DType,
    pub components: Vec<ComponentSummary>,
    /// IP-Adapter image tokens, None without an adapter.
    pub adapter_tokens: Option<usize>,
    /// CLIP vision input side, with an adapter.
    pub vision_size: Option<usize>,
    /// `time_cond_proj_dim` of an LCM-distilled UNet.
    pub guidance_embedding: Option<usize>,
    /// The UNet's training resolution in pixels (`sample_size` × VAE factor).
    pub native_size: usize,
    /// Image sides are rounded down to a multiple of this.
    pub size_multiple: usize,
    pub prediction_type: String,
    /// Whether the text encoder's keys carry the `text_model.` prefix.
    pub text_prefixed: bool,
}

impl ModelSummary {
    pub fn parameters(&self) -> u64 {
        self.components.iter().map(|c| c.parameters).sum()
    }
}

impl fmt::Display for ModelSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "model folder   {}", self.dir.display())?;
        for c in &self.components {
            let dtypes: Vec<String> = c.dtypes.iter().map(|(d, n)| format!("{d}×{n}")).collect();
            writeln!(
                f,
                "  {:<14} {:>13} parameters  {:<16} {}  ({})",
                c.name,
                group(c.parameters),
                dtypes.join(" "),
                c.written_by.as_deref().unwrap_or("writer not recorded"),
                c.file.file_name().unwrap_or_default().to_string_lossy(),
            )?;
        }
        writeln!(f, "total          {} parameters", group(self.parameters()))?;
        writeln!(f, "computes in    {:?}", self.compute_dtype)?;
        writeln!(
            f,
            "native size    {} px (sides rounded down to multiples of {})",
            self.native_size, self.size_multiple
        )?;
        writeln!(f, "prediction     {}", self.prediction_type)?;
        writeln!(
            f,
            "text encoder   {} key layout",
            if self.text_prefixed {
                "`text_model.`"
            } else {
                "unprefixed (transformers 5)"
            }
        )?;
        match (self.adapter_tokens, self.vision_size) {
            (Some(n), Some(s)) => writeln!(
                f,
                "identity       IP-Adapter, {n} image tokens from a {s}×{s} CLIP crop"
            )?,
            _ => writeln!(
                f,
                "identity       no IP-Adapter: runs without identity tokens"
            )?,
        }
        match self.guidance_embedding {
            Some(d) => write!(
                f,
                "guidance       embedded (LCM, {d}-wide w-embedding of guidance − 1); one UNet pass per step"
            ),
            None => write!(
                f,
                "guidance       classifier-free when guidance > 1 (two UNet passes per step)"
            ),
        }
    }
}

/// 1234567 → "1 234 567".
fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// Dtypes and parameter count of one safetensors file, from its header.
pub(crate) fn describe_file(
    name: &str,
    file: &Path,
    config: Option<&Path>,
) -> Result<ComponentSummary, LoadError> {
    // SAFETY: read-only mapping, as in `weights::checked_builder`.
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::new(file) }?;
    let mut dtypes = BTreeMap::new();
    let mut parameters = 0u64;
    for (_, view) in st.tensors() {
        *dtypes
            .entry(format!("{:?}", view.dtype()).to_lowercase())
            .or_insert(0) += 1;
        parameters += view.shape().iter().product::<usize>() as u64;
    }
    let written_by = config.and_then(|p| {
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
        for key in ["_diffusers_version", "transformers_version"] {
            if let Some(ver) = v.get(key).and_then(|x| x.as_str()) {
                let lib = key.trim_start_matches('_').trim_end_matches("_version");
                return Some(format!("{lib} {ver}"));
            }
        }
        None
    });
    Ok(ComponentSummary {
        name: name.to_string(),
        file: file.to_path_buf(),
        written_by,
        dtypes,
        parameters,
    })
}

/// Result of [`check_folder`].
#[derive(Debug)]
pub struct CheckReport {
    pub summary: ModelSummary,
    /// None: the folder has no manifest (and none was asked for).
    pub manifest: Option<ManifestStatus>,
}

#[derive(Debug)]
pub enum ManifestStatus {
    Verified,
    Written(PathBuf),
}

/// Every problem [`check_folder`] found.
#[derive(Debug)]
pub struct CheckFailure {
    pub problems: Vec<String>,
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s):", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  {}", p.replace('\n', "\n  "))?;
        }
        Ok(())
    }
}

impl std::error::Error for CheckFailure {}

/// Loads `dir` on the CPU (in the UNet file's stored precision, so nothing is
/// widened) and checks it against its `SHA256SUMS` if it has one. With
/// `write_manifest`, a folder that loads and has no manifest (or whose manifest
/// matches) gets one written. All problems — load and manifest — come back together.
pub fn check_folder(dir: &Path, write_manifest: bool) -> Result<CheckReport, CheckFailure> {
    let mut problems = Vec::new();
    let manifest = match manifest::verify(dir) {
        Ok(m) => m,
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    let had_manifest = manifest.is_some();
    if let Some(list) = &manifest {
        problems.extend(list.iter().map(ManifestProblem::to_string));
    }
    let dtype = stored_unet_dtype(dir).unwrap_or(DType::F32);
    let summary = match DiffusionModel::load(dir, dtype, &Device::Cpu) {
        Ok(model) => Some(model.summary().clone()),
        Err(e) => {
            problems.push(e.to_string());
            None
        }
    };
    match summary {
        Some(summary) if problems.is_empty() => {
            let manifest = if write_manifest {
                match manifest::write(dir) {
                    Ok(p) => Some(ManifestStatus::Written(p)),
                    Err(e) => {
                        return Err(CheckFailure {
                            problems: vec![e.to_string()],
                        });
                    }
                }
            } else if had_manifest {
                Some(ManifestStatus::Verified)
            } else {
                None
            };
            Ok(CheckReport { summary, manifest })
        }
        _ => Err(CheckFailure { problems }),
    }
}

/// f16 or bf16 when the UNet's weights are stored that way, f32 otherwise.
fn stored_unet_dtype(dir: &Path) -> Option<DType> {
    let file = crate::model::UNET_FILES
        .iter()
        .map(|n| dir.join("unet").join(n))
        .find(|p| p.is_file())?;
    let s = describe_file("unet", &file, None).ok()?;
    let (top, _) = s.dtypes.iter().max_by_key(|(_, n)| **n)?;
    match top.as_str() {
        "f16" => Some(DType::F16),
        "bf16" => Some(DType::BF16),
        _ => Some(DType::F32),
    }
}

/// What [`convert_ip_adapter`] wrote.
#[derive(Debug, Clone)]
pub struct ConvertReport {
    pub tensors: usize,
    pub image_proj: Vec<String>,
    /// Indices of the attention processors that carry `to_k_ip`/`to_v_ip`.
    pub processors: BTreeSet<usize>,
    pub dtypes: BTreeSet<String>,
}

/// Converts a published IP-Adapter checkpoint (a zip-format torch pickle holding
/// `{"image_proj": {...}, "ip_adapter": {...}}`) into the flat `.safetensors` keys this
/// crate loads (`image_proj.proj.weight`, `ip_adapter.1.to_k_ip.weight`, …). Tensors
/// keep their stored dtype. A pickle that is already flat is accepted too.
pub fn convert_ip_adapter(input: &Path, output: &Path) -> Result<ConvertReport, LoadError> {
    let bad = |m: String| LoadError::Unsupported(format!("{}: {m}", input.display()));
    if !input.is_file() {
        return Err(LoadError::MissingFile {
            path: input.to_path_buf(),
        });
    }
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let nested = ["image_proj", "ip_adapter"].iter().try_for_each(|key| {
        for (name, t) in candle_core::pickle::read_all_with_key(input, Some(key))? {
            tensors.insert(format!("{key}.{name}"), t);
        }
        Ok::<_, candle_core::Error>(())
    });
    if nested.is_err() || tensors.is_empty() {
        tensors.clear();
        for (name, t) in candle_core::pickle::read_all(input)
            .map_err(|e| bad(format!("not a readable torch checkpoint ({e})")))?
        {
            tensors.insert(name, t);
        }
    }
    let mut report = ConvertReport {
        tensors: tensors.len(),
        image_proj: Vec::new(),
        processors: BTreeSet::new(),
        dtypes: BTreeSet::new(),
    };
    let mut foreign = Vec::new();
    for (name, t) in &tensors {
        report
            .dtypes
            .insert(format!("{:?}", t.dtype()).to_lowercase());
        if let Some(rest) = name.strip_prefix("image_proj.") {
            report.image_proj.push(rest.to_string());
        } else if let Some(rest) = name.strip_prefix("ip_adapter.") {
            match rest.split('.').next().and_then(|i| i.parse::<usize>().ok()) {
                Some(i) => {
                    report.processors.insert(i);
                }
                None => foreign.push(name.clone()),
            }
        } else {
            foreign.push(name.clone());
        }
    }
    report.image_proj.sort();
    if report.image_proj.is_empty() || report.processors.is_empty() || !foreign.is_empty() {
        foreign.sort();
        return Err(bad(format!(
            "not an IP-Adapter checkpoint: {} image_proj and {} ip_adapter tensors{}",
            report.image_proj.len(),
            report.processors.len(),
            if foreign.is_empty() {
                String::new()
            } else {
                format!(", other keys {}", foreign.join(", "))
            }
        )));
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| LoadError::Io {
            path: parent.to_path_buf(),
            source: e,
        })?;
    }
    let tensors: HashMap<String, Tensor> = tensors
        .into_iter()
        .map(|(k, t)| Ok((k, t.contiguous()?)))
        .collect::<candle_core::Result<_>>()?;
    candle_core::safetensors::save(&tensors, output)?;
    Ok(report)
}
