//! dlib's face recognition ResNet (`dlib_face_recognition_resnet_model_v1`)
//! read from its `.dat` file and run in candle.
//!
//! The file stores layer records in input-to-output order, separated by the
//! framing of dlib's `add_layer`/`add_tag_layer` wrappers (version integers,
//! flags, empty gradient tensors). The wiring between layers (tags and skips)
//! is not in the file: it is the C++ type in dlib's `dnn_face_recognition_ex.cpp`,
//! which this module checks the record sequence against.

use std::path::Path;

use candle_core::{D, DType, Device, Tensor};
use image::RgbImage;

use crate::dlib_io::Reader;
use crate::error::Result;

/// Descriptor length.
pub const EMBEDDING_DIM: usize = 128;
const INPUT_SIZE: usize = 150;
/// Layer framing between records is a few dozen bytes; more means a damaged file.
const MAX_GAP: usize = 512;

#[derive(Debug)]
enum Record {
    Input {
        mean: [f32; 3],
        size: [usize; 2],
    },
    Conv(ConvRecord),
    Affine {
        gamma: Vec<f32>,
        beta: Vec<f32>,
    },
    Relu,
    MaxPool(PoolRecord),
    AvgPool(PoolRecord),
    AddPrev,
    Fc {
        inputs: usize,
        outputs: usize,
        weights: Vec<f32>,
        bias: Option<Vec<f32>>,
    },
}

#[derive(Debug)]
struct ConvRecord {
    filters: usize,
    channels: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    padding: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

#[derive(Debug, Clone, Copy)]
struct PoolRecord {
    nr: usize,
    nc: usize,
    stride: usize,
}

const NAMES: [&str; 8] = [
    "input_rgb_image_sized",
    "con_4",
    "affine_",
    "relu_",
    "max_pool_2",
    "avg_pool_2",
    "add_prev_",
    "fc_2",
];

/// Find the next layer record within `MAX_GAP` bytes and return its name.
fn next_name(r: &mut Reader<'_>, bytes: &[u8]) -> Result<Option<&'static str>> {
    let start = r.position();
    let window = &bytes[start..bytes.len().min(start + MAX_GAP)];
    let mut best: Option<(usize, &'static str)> = None;
    for name in NAMES {
        let mut pat = vec![0x01, name.len() as u8];
        pat.extend_from_slice(name.as_bytes());
        let found = window.windows(pat.len()).position(|w| w == pat.as_slice());
        if let Some(off) = found
            && best.is_none_or(|(b, _)| off < b)
        {
            best = Some((off, name));
        }
    }
    match best {
        Some((off, name)) => {
            r.take(off)?;
            r.expect_string(name)?;
            Ok(Some(name))
        }
        None if start + MAX_GAP >= bytes.len() => Ok(None),
        None => Err(r.error(format!("no layer record within {MAX_GAP} bytes"))),
    }
}

/// A `tensor` record: version 2, four dimensions, raw little-endian f32.
fn tensor(r: &mut Reader<'_>) -> Result<([usize; 4], Vec<f32>)> {
    r.expect_int(2, "tensor version")?;
    let mut dims = [0usize; 4];
    for d in &mut dims {
        *d = r.count(1 << 28, "tensor dimension")?;
    }
    let n = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    let n = n.ok_or_else(|| r.error("tensor size overflows"))?;
    let raw = r.take(
        n.checked_mul(4)
            .ok_or_else(|| r.error("tensor size overflows"))?,
    )?;
    let data = raw
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((dims, data))
}

fn alias_tensor(r: &mut Reader<'_>) -> Result<[usize; 4]> {
    r.expect_int(1, "alias tensor version")?;
    let mut dims = [0usize; 4];
    for d in &mut dims {
        *d = r.count(1 << 28, "alias tensor dimension")?;
    }
    Ok(dims)
}

fn pool(r: &mut Reader<'_>) -> Result<PoolRecord> {
    let nr = r.count(1 << 16, "pool rows")?;
    let nc = r.count(1 << 16, "pool cols")?;
    let sy = r.count(1 << 16, "pool stride")?;
    let sx = r.count(1 << 16, "pool stride")?;
    let py = r.count(1 << 16, "pool padding")?;
    let px = r.count(1 << 16, "pool padding")?;
    if sy != sx || sy == 0 || py != 0 || px != 0 {
        return Err(r.error("only equal, non-zero pooling strides without padding are supported"));
    }
    Ok(PoolRecord { nr, nc, stride: sy })
}

fn parse(bytes: &[u8], path: &Path) -> Result<Vec<Record>> {
    let mut r = Reader::new(bytes, path);
    r.expect_int(1, "loss layer version")?;
    r.expect_string("loss_metric_2")?;
    let mut records = Vec::new();
    while let Some(name) = next_name(&mut r, bytes)? {
        let rec = match name {
            "input_rgb_image_sized" => {
                let mean = [r.float32()?, r.float32()?, r.float32()?];
                let nr = r.count(1 << 16, "input rows")?;
                let nc = r.count(1 << 16, "input cols")?;
                Record::Input {
                    mean,
                    size: [nr, nc],
                }
            }
            "con_4" => {
                let (dims, params) = tensor(&mut r)?;
                let filters = r.count(1 << 16, "filter count")?;
                let kh = r.count(64, "kernel rows")?;
                let kw = r.count(64, "kernel cols")?;
                let sy = r.count(64, "stride")?;
                let sx = r.count(64, "stride")?;
                let py = r.count(64, "padding")?;
                let px = r.count(64, "padding")?;
                let fdims = alias_tensor(&mut r)?;
                let _bias_dims = alias_tensor(&mut r)?;
                for _ in 0..4 {
                    r.float()?; // learning-rate and weight-decay multipliers
                }
                let channels = fdims[1];
                let nweights = filters * channels * kh * kw;
                if sy != sx
                    || py != px
                    || sy == 0
                    || fdims[0] != filters
                    || params.len() != nweights + filters
                {
                    return Err(r.error(format!(
                        "convolution record is inconsistent: params {dims:?}, filters {filters}, \
                         kernel {kh}x{kw}, strides {sy}/{sx}, paddings {py}/{px}"
                    )));
                }
                Record::Conv(ConvRecord {
                    filters,
                    channels,
                    kh,
                    kw,
                    stride: sy,
                    padding: py,
                    bias: params[nweights..].to_vec(),
                    weights: params[..nweights].to_vec(),
                })
            }
            "affine_" => {
                let (_, params) = tensor(&mut r)?;
                let g = alias_tensor(&mut r)?;
                alias_tensor(&mut r)?;
                let _mode = r.int()?;
                let n = g.iter().product::<usize>();
                if params.len() != 2 * n {
                    return Err(r.error("affine parameters are not gamma followed by beta"));
                }
                Record::Affine {
                    gamma: params[..n].to_vec(),
                    beta: params[n..].to_vec(),
                }
            }
            "relu_" => Record::Relu,
            "max_pool_2" => Record::MaxPool(pool(&mut r)?),
            "avg_pool_2" => Record::AvgPool(pool(&mut r)?),
            "add_prev_" => Record::AddPrev,
            "fc_2" => {
                let outputs = r.count(1 << 16, "fc outputs")?;
                let inputs = r.count(1 << 16, "fc inputs")?;
                let (_, params) = tensor(&mut r)?;
                let (weights, bias) = if params.len() == inputs * outputs {
                    (params, None)
                } else if params.len() == (inputs + 1) * outputs {
                    let w = params[..inputs * outputs].to_vec();
                    (w, Some(params[inputs * outputs..].to_vec()))
                } else {
                    return Err(r.error("fc parameters do not match inputs x outputs"));
                };
                Record::Fc {
                    inputs,
                    outputs,
                    weights,
                    bias,
                }
            }
            _ => unreachable!("next_name only returns known names"),
        };
        records.push(rec);
    }
    Ok(records)
}

/// A convolution with the following affine layer folded into it.
struct ConvBn {
    weight: Tensor,
    bias: Tensor,
    stride: usize,
    padding: usize,
}

impl ConvBn {
    fn new(c: &ConvRecord, gamma: &[f32], beta: &[f32], device: &Device) -> Result<Self> {
        let per = c.channels * c.kh * c.kw;
        let mut w = c.weights.clone();
        let mut b = c.bias.clone();
        for f in 0..c.filters {
            for v in &mut w[f * per..(f + 1) * per] {
                *v *= gamma[f];
            }
            b[f] = b[f] * gamma[f] + beta[f];
        }
        Ok(Self {
            weight: Tensor::from_vec(w, (c.filters, c.channels, c.kh, c.kw), device)?,
            bias: Tensor::from_vec(b, (1, c.filters, 1, 1), device)?,
            stride: c.stride,
            padding: c.padding,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.conv2d(&self.weight, self.padding, self.stride, 1, 1)?
            .broadcast_add(&self.bias)
    }
}

struct Block {
    conv1: ConvBn,
    conv2: ConvBn,
    /// Present on the blocks that halve the resolution.
    shortcut_pool: Option<PoolRecord>,
}

/// The loaded network. Load once with [`FaceEncoder::from_bytes`] and reuse.
pub struct FaceEncoder {
    device: Device,
    mean: [f32; 3],
    stem: ConvBn,
    stem_pool: PoolRecord,
    blocks: Vec<Block>,
    fc: Tensor,
    fc_bias: Option<Tensor>,
}

impl std::fmt::Debug for FaceEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEncoder")
            .field("device", &self.device)
            .field("blocks", &self.blocks.len())
            .finish()
    }
}

impl FaceEncoder {
    pub fn from_bytes(bytes: &[u8], path: &Path, device: &Device) -> Result<Self> {
        let records = parse(bytes, path)?;
        let shape_err = |what: &str| crate::error::IdentityError::ModelFormat {
            path: path.to_path_buf(),
            offset: bytes.len(),
            reason: format!("layer sequence does not match dlib's face ResNet: {what}"),
        };
        let mut it = records.iter().peekable();
        let mean = match it.next() {
            Some(Record::Input { mean, size }) if *size == [INPUT_SIZE, INPUT_SIZE] => *mean,
            _ => return Err(shape_err("expected a 150x150 RGB input first")),
        };
        let conv_bn =
            |it: &mut std::iter::Peekable<std::slice::Iter<'_, Record>>| -> Result<ConvBn> {
                match (it.next(), it.next()) {
                    (Some(Record::Conv(c)), Some(Record::Affine { gamma, beta }))
                        if gamma.len() == c.filters && beta.len() == c.filters =>
                    {
                        ConvBn::new(c, gamma, beta, device)
                    }
                    _ => Err(shape_err(
                        "expected a convolution followed by an affine layer",
                    )),
                }
            };
        let stem = conv_bn(&mut it)?;
        let stem_pool = match (it.next(), it.next()) {
            (Some(Record::Relu), Some(Record::MaxPool(p))) => *p,
            _ => return Err(shape_err("expected relu and max pool after the stem")),
        };
        let mut blocks = Vec::new();
        while matches!(it.peek(), Some(Record::Conv(_))) {
            let conv1 = conv_bn(&mut it)?;
            if !matches!(it.next(), Some(Record::Relu)) {
                return Err(shape_err("expected relu inside a residual block"));
            }
            let conv2 = conv_bn(&mut it)?;
            let shortcut_pool = match it.next() {
                Some(Record::AvgPool(p)) => match it.next() {
                    Some(Record::AddPrev) => Some(*p),
                    _ => return Err(shape_err("expected add_prev after a shortcut pool")),
                },
                Some(Record::AddPrev) => None,
                _ => return Err(shape_err("expected add_prev closing a residual block")),
            };
            if !matches!(it.next(), Some(Record::Relu)) {
                return Err(shape_err("expected relu after a residual block"));
            }
            blocks.push(Block {
                conv1,
                conv2,
                shortcut_pool,
            });
        }
        match it.next() {
            Some(Record::AvgPool(p)) if p.nr == 0 && p.nc == 0 => {}
            _ => return Err(shape_err("expected a global average pool")),
        }
        let (fc, fc_bias) = match it.next() {
            Some(Record::Fc {
                inputs,
                outputs,
                weights,
                bias,
            }) if *outputs == EMBEDDING_DIM => (
                Tensor::from_vec(weights.clone(), (*inputs, *outputs), device)?,
                bias.as_ref()
                    .map(|b| Tensor::from_vec(b.clone(), (1, *outputs), device))
                    .transpose()?,
            ),
            _ => {
                return Err(shape_err(
                    "expected a fully connected layer with 128 outputs",
                ));
            }
        };
        if it.next().is_some() {
            return Err(shape_err(
                "unexpected layers after the fully connected layer",
            ));
        }
        Ok(Self {
            device: device.clone(),
            mean,
            stem,
            stem_pool,
            blocks,
            fc,
            fc_bias,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// 128-d descriptors for 150x150 aligned chips, one per chip.
    pub fn embed(&self, chips: &[RgbImage]) -> Result<Vec<[f32; EMBEDDING_DIM]>> {
        if chips.is_empty() {
            return Ok(vec![]);
        }
        let plane = INPUT_SIZE * INPUT_SIZE;
        let mut input = vec![0f32; chips.len() * 3 * plane];
        for (n, chip) in chips.iter().enumerate() {
            if chip.dimensions() != (INPUT_SIZE as u32, INPUT_SIZE as u32) {
                return Err(crate::error::IdentityError::Tensor(
                    candle_core::Error::Msg(format!(
                        "chip is {}x{}, the network takes {INPUT_SIZE}x{INPUT_SIZE}",
                        chip.width(),
                        chip.height()
                    )),
                ));
            }
            let base = n * 3 * plane;
            for (i, p) in chip.pixels().enumerate() {
                for k in 0..3 {
                    input[base + k * plane + i] = (p.0[k] as f32 - self.mean[k]) / 256.0;
                }
            }
        }
        let x = Tensor::from_vec(
            input,
            (chips.len(), 3, INPUT_SIZE, INPUT_SIZE),
            &self.device,
        )?;
        let y = self.forward(&x)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        Ok(y.into_iter()
            .map(|row| {
                let mut out = [0f32; EMBEDDING_DIM];
                out.copy_from_slice(&row[..EMBEDDING_DIM]);
                out
            })
            .collect())
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let p = self.stem_pool;
        let mut x = self
            .stem
            .forward(x)?
            .relu()?
            .max_pool2d_with_stride((p.nr, p.nc), (p.stride, p.stride))?;
        for b in &self.blocks {
            let y = b.conv2.forward(&b.conv1.forward(&x)?.relu()?)?;
            let shortcut = match b.shortcut_pool {
                Some(p) => x.avg_pool2d_with_stride((p.nr, p.nc), (p.stride, p.stride))?,
                None => x,
            };
            x = add_prev(&y, &shortcut)?.relu()?;
        }
        let pooled = x.mean(D::Minus1)?.mean(D::Minus1)?;
        let out = pooled.matmul(&self.fc)?;
        match &self.fc_bias {
            Some(b) => out.broadcast_add(b),
            None => Ok(out),
        }
    }
}

/// dlib's `add_prev`: both tensors zero-padded at the far end of every
/// dimension to the larger shape, then added.
fn add_prev(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let (a_dims, b_dims) = (a.dims4()?, b.dims4()?);
    let target = [
        a_dims.1.max(b_dims.1),
        a_dims.2.max(b_dims.2),
        a_dims.3.max(b_dims.3),
    ];
    let pad = |t: &Tensor, d: (usize, usize, usize, usize)| -> candle_core::Result<Tensor> {
        let mut t = t.clone();
        for (dim, (have, want)) in [
            (1, (d.1, target[0])),
            (2, (d.2, target[1])),
            (3, (d.3, target[2])),
        ] {
            if want > have {
                t = t.pad_with_zeros(dim, 0, want - have)?;
            }
        }
        Ok(t)
    };
    pad(a, a_dims)? + pad(b, b_dims)?
}
