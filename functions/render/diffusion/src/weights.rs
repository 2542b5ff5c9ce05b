//! A `VarBuilder` backend that checks every tensor the model asks for against the
//! safetensors files and records all problems instead of stopping at the first one, so
//! a broken model folder is reported in one error.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use candle_core::safetensors::MmapedSafetensors;
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

use crate::error::{LoadError, TensorProblem};

/// Problems and requested names, shared by all components of one load.
#[derive(Default, Clone)]
pub struct Audit {
    inner: Arc<Mutex<AuditInner>>,
}

#[derive(Default)]
struct AuditInner {
    problems: Vec<TensorProblem>,
    requested: BTreeSet<(String, String)>,
}

impl Audit {
    pub fn push(&self, p: TensorProblem) {
        self.lock().problems.push(p);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, AuditInner> {
        // A poisoned lock only means another builder panicked; the data is still a list.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn was_requested(&self, component: &str, name: &str) -> bool {
        self.lock()
            .requested
            .contains(&(component.to_string(), name.to_string()))
    }

    /// Records every tensor of `path` that no layer of `component` asked for: a file
    /// from another architecture or variant (an LCM UNet read as a plain one, an SDXL
    /// adapter) would otherwise load silently and run wrong. transformers' saved
    /// `position_ids` buffers are constants, not weights, and are not reported.
    pub fn report_unused(&self, component: &str, path: &Path) -> Result<(), LoadError> {
        for name in tensor_names(path)? {
            if name.ends_with("position_ids") {
                continue;
            }
            if !self.was_requested(component, &name) {
                self.push(TensorProblem::Unexpected {
                    component: component.to_string(),
                    name,
                });
            }
        }
        Ok(())
    }

    /// Ok when nothing was recorded, otherwise the listing error.
    pub fn finish(&self) -> Result<(), LoadError> {
        let problems = std::mem::take(&mut self.lock().problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(LoadError::Tensors(problems))
        }
    }
}

struct Checked {
    component: String,
    files: MmapedSafetensors,
    audit: Audit,
}

impl Checked {
    /// Stand-in for a missing or mis-shaped tensor so building can go on; a broadcast
    /// scalar costs no memory even for SD-sized layers. It never reaches inference,
    /// because `Audit::finish` fails the load.
    fn placeholder(s: &Shape, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        Tensor::zeros((), dtype, dev)?.broadcast_as(s.clone())
    }
}

impl SimpleBackend for Checked {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        self.audit
            .lock()
            .requested
            .insert((self.component.clone(), name.to_string()));
        match self.files.get(name) {
            Err(_) => {
                self.audit.push(TensorProblem::Missing {
                    component: self.component.clone(),
                    name: name.to_string(),
                    expected: s.dims().to_vec(),
                });
                Self::placeholder(&s, dtype, dev)
            }
            Ok(view) if view.shape() != s.dims() => {
                self.audit.push(TensorProblem::Shape {
                    component: self.component.clone(),
                    name: name.to_string(),
                    expected: s.dims().to_vec(),
                    found: view.shape().to_vec(),
                });
                Self::placeholder(&s, dtype, dev)
            }
            Ok(_) => self.files.load(name, dev)?.to_dtype(dtype),
        }
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> candle_core::Result<Tensor> {
        self.files.load(name, dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.files.get(name).is_ok()
    }
}

/// Opens safetensors files as one checked `VarBuilder` for `component`.
pub fn checked_builder<'a>(
    component: &str,
    paths: &[std::path::PathBuf],
    dtype: DType,
    device: &Device,
    audit: &Audit,
) -> Result<VarBuilder<'a>, LoadError> {
    // SAFETY: the files are mapped read-only; the model folder must not be rewritten
    // while a model is loaded, which is documented in docs/DIFFUSION.md.
    let files = unsafe { MmapedSafetensors::multi(paths) }?;
    let backend = Checked {
        component: component.to_string(),
        files,
        audit: audit.clone(),
    };
    Ok(VarBuilder::from_backend(
        Box::new(backend),
        dtype,
        device.clone(),
    ))
}

/// Names (and shapes) of every tensor in a safetensors file, read from its header.
pub fn tensor_names(path: &Path) -> Result<Vec<String>, LoadError> {
    // SAFETY: as in `checked_builder`.
    let files = unsafe { MmapedSafetensors::new(path) }?;
    Ok(files.tensors().into_iter().map(|(n, _)| n).collect())
}
