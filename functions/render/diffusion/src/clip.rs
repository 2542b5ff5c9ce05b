//! CLIP text and vision encoders (transformers' `CLIPTextModel` and
//! `CLIPVisionModelWithProjection` key layout). Written here rather than taken from
//! candle-transformers because its CLIP only knows `quick_gelu`, while the IP-Adapter
//! image encoder (OpenCLIP ViT-H/14) uses exact `gelu`.

use candle_core::{D, DType, Device, IndexOp, Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, Embedding, LayerNorm, Linear, VarBuilder};

use crate::config::ClipConfig;

#[derive(Debug, Clone, Copy)]
enum Act {
    QuickGelu,
    Gelu,
}

impl Act {
    fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Act::QuickGelu => xs * candle_nn::ops::sigmoid(&(xs * 1.702)?)?,
            Act::Gelu => xs.gelu_erf(),
        }
    }
}

struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    ln1: LayerNorm,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    heads: usize,
    act: Act,
}

impl Layer {
    fn new(vb: VarBuilder, c: &ClipConfig, act: Act) -> Result<Self> {
        let h = c.hidden_size;
        let a = vb.pp("self_attn");
        Ok(Self {
            q: candle_nn::linear(h, h, a.pp("q_proj"))?,
            k: candle_nn::linear(h, h, a.pp("k_proj"))?,
            v: candle_nn::linear(h, h, a.pp("v_proj"))?,
            out: candle_nn::linear(h, h, a.pp("out_proj"))?,
            ln1: candle_nn::layer_norm(h, c.layer_norm_eps, vb.pp("layer_norm1"))?,
            ln2: candle_nn::layer_norm(h, c.layer_norm_eps, vb.pp("layer_norm2"))?,
            fc1: candle_nn::linear(h, c.intermediate_size, vb.pp("mlp.fc1"))?,
            fc2: candle_nn::linear(c.intermediate_size, h, vb.pp("mlp.fc2"))?,
            heads: c.num_attention_heads,
            act,
        })
    }

    fn forward(&self, xs: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, l, h) = xs.dims3()?;
        let d = h / self.heads;
        let split = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, l, self.heads, d))?
                .transpose(1, 2)?
                .contiguous()
        };
        let y = self.ln1.forward(xs)?;
        let q = split((self.q.forward(&y)? * (d as f64).powf(-0.5))?)?;
        let k = split(self.k.forward(&y)?)?;
        let v = split(self.v.forward(&y)?)?;
        let mut w = q.matmul(&k.t()?)?;
        if let Some(m) = mask {
            w = w.broadcast_add(m)?;
        }
        let w = candle_nn::ops::softmax_last_dim(&w)?;
        let y = w.matmul(&v)?.transpose(1, 2)?.reshape((b, l, h))?;
        let xs = (xs + self.out.forward(&y)?)?;
        let y = self.fc2.forward(
            &self
                .act
                .apply(&self.fc1.forward(&self.ln2.forward(&xs)?)?)?,
        )?;
        xs + y
    }
}

fn act_of(c: &ClipConfig) -> Act {
    if c.hidden_act == "gelu" {
        Act::Gelu
    } else {
        Act::QuickGelu
    }
}

fn layers(vb: VarBuilder, c: &ClipConfig) -> Result<Vec<Layer>> {
    (0..c.num_hidden_layers)
        .map(|i| Layer::new(vb.pp("encoder.layers").pp(i), c, act_of(c)))
        .collect()
}

/// `CLIPTextModel`: token ids → last hidden state (what SD 1.x conditions on).
pub struct TextEncoder {
    token: Embedding,
    position: Embedding,
    layers: Vec<Layer>,
    final_ln: LayerNorm,
    pub max_len: usize,
}

impl TextEncoder {
    /// Weights under `text_model.` (transformers 4 and diffusers' checkpoints).
    pub fn new(vb: VarBuilder, c: &ClipConfig) -> Result<Self> {
        Self::with_root(vb.pp("text_model"), c)
    }

    /// Weights at the root (`embeddings.…`, `encoder.…`), as transformers 5 saves them.
    pub fn with_root(vb: VarBuilder, c: &ClipConfig) -> Result<Self> {
        Ok(Self {
            token: candle_nn::embedding(
                c.vocab_size,
                c.hidden_size,
                vb.pp("embeddings.token_embedding"),
            )?,
            position: candle_nn::embedding(
                c.max_position_embeddings,
                c.hidden_size,
                vb.pp("embeddings.position_embedding"),
            )?,
            layers: layers(vb.clone(), c)?,
            final_ln: candle_nn::layer_norm(
                c.hidden_size,
                c.layer_norm_eps,
                vb.pp("final_layer_norm"),
            )?,
            max_len: c.max_position_embeddings,
        })
    }

    /// `ids`: [B, L] u32 → [B, L, hidden].
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (_, l) = ids.dims2()?;
        let dev = ids.device();
        let pos = Tensor::arange(0u32, l as u32, dev)?;
        let xs = self
            .token
            .forward(ids)?
            .broadcast_add(&self.position.forward(&pos)?)?;
        let dtype = xs.dtype();
        let mask: Vec<f32> = (0..l)
            .flat_map(|i| (0..l).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (1, 1, l, l), dev)?.to_dtype(dtype)?;
        let mut xs = xs;
        for layer in &self.layers {
            xs = layer.forward(&xs, Some(&mask))?;
        }
        self.final_ln.forward(&xs)
    }
}

/// `CLIPVisionModelWithProjection`: preprocessed pixels → `image_embeds`.
pub struct VisionEncoder {
    patch: Conv2d,
    class: Tensor,
    position: Embedding,
    pre_ln: LayerNorm,
    layers: Vec<Layer>,
    post_ln: LayerNorm,
    projection: Linear,
    pub image_size: usize,
    num_positions: usize,
}

impl VisionEncoder {
    pub fn new(vb: VarBuilder, c: &ClipConfig) -> Result<Self> {
        let projection =
            candle_nn::linear_no_bias(c.hidden_size, c.projection_dim, vb.pp("visual_projection"))?;
        let vb = vb.pp("vision_model");
        let num_positions = (c.image_size / c.patch_size).pow(2) + 1;
        let e = vb.pp("embeddings");
        let cfg = Conv2dConfig {
            stride: c.patch_size,
            ..Default::default()
        };
        Ok(Self {
            patch: candle_nn::conv2d_no_bias(
                c.num_channels,
                c.hidden_size,
                c.patch_size,
                cfg,
                e.pp("patch_embedding"),
            )?,
            class: e.get(c.hidden_size, "class_embedding")?,
            position: candle_nn::embedding(
                num_positions,
                c.hidden_size,
                e.pp("position_embedding"),
            )?,
            // transformers' spelling
            pre_ln: candle_nn::layer_norm(c.hidden_size, c.layer_norm_eps, vb.pp("pre_layrnorm"))?,
            layers: layers(vb.clone(), c)?,
            post_ln: candle_nn::layer_norm(
                c.hidden_size,
                c.layer_norm_eps,
                vb.pp("post_layernorm"),
            )?,
            projection,
            image_size: c.image_size,
            num_positions,
        })
    }

    /// `pixels`: [B, 3, S, S], CLIP-normalised → [B, projection_dim].
    pub fn forward(&self, pixels: &Tensor) -> Result<Tensor> {
        let b = pixels.dim(0)?;
        let patches = self
            .patch
            .forward(pixels)?
            .flatten_from(2)?
            .transpose(1, 2)?;
        let h = patches.dim(D::Minus1)?;
        let class = self.class.reshape((1, 1, h))?.expand((b, 1, h))?;
        let pos = Tensor::arange(0u32, self.num_positions as u32, pixels.device())?;
        let xs =
            Tensor::cat(&[&class, &patches], 1)?.broadcast_add(&self.position.forward(&pos)?)?;
        let mut xs = self.pre_ln.forward(&xs)?;
        for layer in &self.layers {
            xs = layer.forward(&xs, None)?;
        }
        let pooled = self.post_ln.forward(&xs.i((.., 0, ..))?)?;
        self.projection.forward(&pooled)
    }
}

/// `CLIPImageProcessor`'s resize target: the short side becomes `size`, the long side
/// `int(size × long / short)` (truncated, as transformers computes it).
pub fn resized_size((w, h): (u32, u32), size: u32) -> (u32, u32) {
    let (short, long) = (w.min(h).max(1), w.max(h));
    let long = ((u64::from(size) * u64::from(long)) / u64::from(short)) as u32;
    let long = long.max(size);
    if w <= h { (size, long) } else { (long, size) }
}

/// CLIPImageProcessor: shortest side to `size` (Pillow's bicubic), centre crop,
/// normalise.
pub fn preprocess(
    img: &image::RgbImage,
    size: usize,
    dtype: DType,
    dev: &Device,
) -> Result<Tensor> {
    const MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
    const STD: [f32; 3] = [0.268_629_5, 0.261_302_6, 0.275_777_1];
    let (nw, nh) = resized_size(img.dimensions(), size as u32);
    let resized = crate::resample::resize_bicubic(img, nw, nh);
    let x0 = (nw - size as u32) / 2;
    let y0 = (nh - size as u32) / 2;
    let crop = image::imageops::crop_imm(&resized, x0, y0, size as u32, size as u32).to_image();
    let mut data = vec![0f32; 3 * size * size];
    for (x, y, p) in crop.enumerate_pixels() {
        for c in 0..3 {
            data[c * size * size + y as usize * size + x as usize] =
                (p[c] as f32 / 255.0 - MEAN[c]) / STD[c];
        }
    }
    Tensor::from_vec(data, (1, 3, size, size), dev)?.to_dtype(dtype)
}
