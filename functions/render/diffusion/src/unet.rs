//! SD 1.5-family `UNet2DConditionModel` with IP-Adapter decoupled cross-attention,
//! built from candle-nn layers under diffusers' tensor names.
//!
//! Every `attn2` (text cross-attention) may carry `to_k_ip`/`to_v_ip`; its output is
//! `to_out(attn(q, text) + scale * attn(q, image_tokens))`, with the same query and heads
//! (IP-Adapter, see docs/DIFFUSION.md for the key order).

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, LayerNorm, Linear, VarBuilder};

use crate::config::UNetConfig;

/// Image tokens and how strongly they count, passed down to every cross-attention.
#[derive(Clone, Copy)]
pub struct ImageTokens<'a> {
    pub tokens: &'a Tensor,
    pub scale: f64,
}

/// Hands out the IP-Adapter processor index in diffusers' `attn_processors` order,
/// and the adapter's `VarBuilder` (if any) for the `attn2` layers.
pub struct IpSlots<'a> {
    next: usize,
    vb: Option<VarBuilder<'a>>,
    cross_dim: usize,
}

impl<'a> IpSlots<'a> {
    pub fn new(vb: Option<VarBuilder<'a>>, cross_dim: usize) -> Self {
        Self {
            next: 0,
            vb,
            cross_dim,
        }
    }

    /// Number of attention processors (attn1 + attn2) seen so far.
    pub fn count(&self) -> usize {
        self.next
    }

    /// Claims the indices of one transformer block's attn1 and attn2 and returns the
    /// adapter's K/V projections for attn2.
    fn claim(&mut self, hidden: usize) -> Result<Option<(Linear, Linear)>> {
        let attn2 = self.next + 1;
        self.next += 2;
        match &self.vb {
            None => Ok(None),
            Some(vb) => {
                let vb = vb.pp(attn2);
                Ok(Some((
                    candle_nn::linear_no_bias(self.cross_dim, hidden, vb.pp("to_k_ip"))?,
                    candle_nn::linear_no_bias(self.cross_dim, hidden, vb.pp("to_v_ip"))?,
                )))
            }
        }
    }
}

fn heads_split(t: &Tensor, heads: usize) -> Result<Tensor> {
    let (b, l, c) = t.dims3()?;
    t.reshape((b, l, heads, c / heads))?
        .transpose(1, 2)?
        .contiguous()
}

/// Score elements per attention slice (64 Mi × 4 bytes in f32): bounds the memory of
/// SD's 4096-token self-attention, which unsliced needs 1 GiB per score tensor at batch 2.
const SLICE_ELEMENTS: usize = 1 << 26;

/// softmax(q kᵀ/√d) v for [B, heads, L, d] tensors, computed over slices of the
/// batch×heads axis; softmax runs in f32 so that f16 weights do not overflow.
fn attend(q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Tensor> {
    let (b, h, lq, d) = q.dims4()?;
    let lk = k.dim(2)?;
    let q = (q * (d as f64).powf(-0.5))?.reshape((b * h, lq, d))?;
    let k = k.reshape((b * h, lk, d))?;
    let v = v.reshape((b * h, lk, d))?;
    let per = (SLICE_ELEMENTS / (lq * lk).max(1)).max(1);
    let mut parts = Vec::with_capacity((b * h).div_ceil(per));
    let mut start = 0;
    while start < b * h {
        let n = per.min(b * h - start);
        let w = q
            .narrow(0, start, n)?
            .matmul(&k.narrow(0, start, n)?.t()?)?;
        let w = candle_nn::ops::softmax_last_dim(&w.to_dtype(DType::F32)?)?.to_dtype(q.dtype())?;
        parts.push(w.matmul(&v.narrow(0, start, n)?)?);
        start += n;
    }
    Tensor::cat(&parts, 0)?.reshape((b, h, lq, d))
}

struct Attention {
    to_q: Linear,
    to_k: Linear,
    to_v: Linear,
    to_out: Linear,
    ip: Option<(Linear, Linear)>,
    heads: usize,
}

impl Attention {
    fn new(
        vb: VarBuilder,
        hidden: usize,
        ctx: usize,
        heads: usize,
        ip: Option<(Linear, Linear)>,
    ) -> Result<Self> {
        Ok(Self {
            to_q: candle_nn::linear_no_bias(hidden, hidden, vb.pp("to_q"))?,
            to_k: candle_nn::linear_no_bias(ctx, hidden, vb.pp("to_k"))?,
            to_v: candle_nn::linear_no_bias(ctx, hidden, vb.pp("to_v"))?,
            to_out: candle_nn::linear(hidden, hidden, vb.pp("to_out.0"))?,
            ip,
            heads,
        })
    }

    fn forward(
        &self,
        xs: &Tensor,
        ctx: Option<&Tensor>,
        image: Option<ImageTokens>,
    ) -> Result<Tensor> {
        let (b, l, c) = xs.dims3()?;
        let ctx = ctx.unwrap_or(xs);
        let q = heads_split(&self.to_q.forward(xs)?, self.heads)?;
        let k = heads_split(&self.to_k.forward(ctx)?, self.heads)?;
        let v = heads_split(&self.to_v.forward(ctx)?, self.heads)?;
        let mut out = attend(&q, &k, &v)?;
        if let (Some((to_k_ip, to_v_ip)), Some(img)) = (&self.ip, image) {
            let k = heads_split(&to_k_ip.forward(img.tokens)?, self.heads)?;
            let v = heads_split(&to_v_ip.forward(img.tokens)?, self.heads)?;
            out = (out + (attend(&q, &k, &v)? * img.scale)?)?;
        }
        let out = out.transpose(1, 2)?.reshape((b, l, c))?;
        self.to_out.forward(&out)
    }
}

struct GeGlu {
    proj: Linear,
    out: Linear,
}

impl GeGlu {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let h = self.proj.forward(xs)?;
        let half = h.dim(2)? / 2;
        let a = h.narrow(2, 0, half)?;
        let gate = h.narrow(2, half, half)?;
        self.out.forward(&(a * gate.gelu_erf()?)?)
    }
}

struct TransformerBlock {
    norm1: LayerNorm,
    attn1: Attention,
    norm2: LayerNorm,
    attn2: Attention,
    norm3: LayerNorm,
    ff: GeGlu,
}

impl TransformerBlock {
    fn new(
        vb: VarBuilder,
        dim: usize,
        cross: usize,
        heads: usize,
        slots: &mut IpSlots,
    ) -> Result<Self> {
        let ip = slots.claim(dim)?;
        let inner = 4 * dim;
        Ok(Self {
            norm1: candle_nn::layer_norm(dim, 1e-5, vb.pp("norm1"))?,
            attn1: Attention::new(vb.pp("attn1"), dim, dim, heads, None)?,
            norm2: candle_nn::layer_norm(dim, 1e-5, vb.pp("norm2"))?,
            attn2: Attention::new(vb.pp("attn2"), dim, cross, heads, ip)?,
            norm3: candle_nn::layer_norm(dim, 1e-5, vb.pp("norm3"))?,
            ff: GeGlu {
                proj: candle_nn::linear(dim, 2 * inner, vb.pp("ff.net.0.proj"))?,
                out: candle_nn::linear(inner, dim, vb.pp("ff.net.2"))?,
            },
        })
    }

    fn forward(&self, xs: &Tensor, text: &Tensor, image: Option<ImageTokens>) -> Result<Tensor> {
        let xs = (self.attn1.forward(&self.norm1.forward(xs)?, None, None)? + xs)?;
        let xs = (self
            .attn2
            .forward(&self.norm2.forward(&xs)?, Some(text), image)?
            + &xs)?;
        self.ff.forward(&self.norm3.forward(&xs)?)? + xs
    }
}

enum Proj {
    Conv(Conv2d),
    Linear(Linear),
}

/// diffusers' `Transformer2DModel` (continuous input).
struct SpatialTransformer {
    norm: GroupNorm,
    proj_in: Proj,
    blocks: Vec<TransformerBlock>,
    proj_out: Proj,
}

impl SpatialTransformer {
    fn new(
        vb: VarBuilder,
        ch: usize,
        heads: usize,
        c: &UNetConfig,
        slots: &mut IpSlots,
    ) -> Result<Self> {
        let proj = |name: &str| -> Result<Proj> {
            if c.use_linear_projection {
                Ok(Proj::Linear(candle_nn::linear(ch, ch, vb.pp(name))?))
            } else {
                Ok(Proj::Conv(candle_nn::conv2d(
                    ch,
                    ch,
                    1,
                    Conv2dConfig::default(),
                    vb.pp(name),
                )?))
            }
        };
        let proj_in = proj("proj_in")?;
        let mut blocks = Vec::new();
        for i in 0..c.transformer_layers_per_block {
            blocks.push(TransformerBlock::new(
                vb.pp("transformer_blocks").pp(i),
                ch,
                c.cross_attention_dim,
                heads,
                slots,
            )?);
        }
        Ok(Self {
            norm: candle_nn::group_norm(c.norm_num_groups, ch, 1e-6, vb.pp("norm"))?,
            proj_in,
            blocks,
            proj_out: proj("proj_out")?,
        })
    }

    fn forward(&self, xs: &Tensor, text: &Tensor, image: Option<ImageTokens>) -> Result<Tensor> {
        let (b, c, h, w) = xs.dims4()?;
        let y = self.norm.forward(xs)?;
        let to_seq =
            |t: Tensor| -> Result<Tensor> { t.permute((0, 2, 3, 1))?.reshape((b, h * w, c)) };
        let mut y = match &self.proj_in {
            Proj::Conv(p) => to_seq(p.forward(&y)?)?,
            Proj::Linear(p) => p.forward(&to_seq(y)?)?,
        };
        for blk in &self.blocks {
            y = blk.forward(&y, text, image)?;
        }
        let to_map = |t: Tensor| -> Result<Tensor> {
            t.reshape((b, h, w, c))?.permute((0, 3, 1, 2))?.contiguous()
        };
        let y = match &self.proj_out {
            Proj::Conv(p) => p.forward(&to_map(y)?)?,
            Proj::Linear(p) => to_map(p.forward(&y)?)?,
        };
        y + xs
    }
}

struct ResBlock {
    norm1: GroupNorm,
    conv1: Conv2d,
    temb: Linear,
    norm2: GroupNorm,
    conv2: Conv2d,
    shortcut: Option<Conv2d>,
}

fn conv3(i: usize, o: usize, stride: usize, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        stride,
        ..Default::default()
    };
    candle_nn::conv2d(i, o, 3, cfg, vb)
}

impl ResBlock {
    fn new(vb: VarBuilder, cin: usize, cout: usize, temb: usize, c: &UNetConfig) -> Result<Self> {
        let g = c.norm_num_groups;
        Ok(Self {
            norm1: candle_nn::group_norm(g, cin, c.norm_eps, vb.pp("norm1"))?,
            conv1: conv3(cin, cout, 1, vb.pp("conv1"))?,
            temb: candle_nn::linear(temb, cout, vb.pp("time_emb_proj"))?,
            norm2: candle_nn::group_norm(g, cout, c.norm_eps, vb.pp("norm2"))?,
            conv2: conv3(cout, cout, 1, vb.pp("conv2"))?,
            shortcut: if cin != cout {
                Some(candle_nn::conv2d(
                    cin,
                    cout,
                    1,
                    Conv2dConfig::default(),
                    vb.pp("conv_shortcut"),
                )?)
            } else {
                None
            },
        })
    }

    fn forward(&self, xs: &Tensor, emb: &Tensor) -> Result<Tensor> {
        let h = self
            .conv1
            .forward(&candle_nn::ops::silu(&self.norm1.forward(xs)?)?)?;
        let t = self
            .temb
            .forward(&candle_nn::ops::silu(emb)?)?
            .unsqueeze(2)?
            .unsqueeze(3)?;
        let h = h.broadcast_add(&t)?;
        let h = self
            .conv2
            .forward(&candle_nn::ops::silu(&self.norm2.forward(&h)?)?)?;
        match &self.shortcut {
            Some(s) => s.forward(xs)? + h,
            None => xs + h,
        }
    }
}

struct Stage {
    resnets: Vec<ResBlock>,
    attentions: Vec<SpatialTransformer>,
    resample: Option<Conv2d>,
}

/// The UNet. Build with [`UNet::new`]; `forward` predicts noise for a batch.
pub struct UNet {
    conv_in: Conv2d,
    /// LCM-distilled UNets: projection of the guidance-scale embedding, added to the
    /// timestep features (`time_embedding.cond_proj`).
    cond_proj: Option<Linear>,
    /// Width of that embedding (`time_cond_proj_dim`).
    pub cond_dim: Option<usize>,
    time1: Linear,
    time2: Linear,
    down: Vec<Stage>,
    mid_res: [ResBlock; 2],
    mid_attn: SpatialTransformer,
    up: Vec<Stage>,
    norm_out: GroupNorm,
    conv_out: Conv2d,
    base: usize,
    flip_sin_to_cos: bool,
    freq_shift: f64,
    /// Whether the IP-Adapter projections were loaded.
    pub has_adapter: bool,
    pub in_channels: usize,
}

impl UNet {
    /// `ip`: the adapter file's builder rooted at `ip_adapter`, if an adapter is used.
    pub fn new(vb: VarBuilder, c: &UNetConfig, ip: Option<VarBuilder>) -> Result<(Self, usize)> {
        let has_adapter = ip.is_some();
        let mut slots = IpSlots::new(ip, c.cross_attention_dim);
        let ch = &c.block_out_channels;
        let n = ch.len();
        let temb = 4 * ch[0];
        let l = c.layers_per_block;

        // diffusers registers down_blocks, then up_blocks, then mid_block; the
        // IP-Adapter indices follow that order, so the mid block is built last.
        let mut down = Vec::with_capacity(n);
        for i in 0..n {
            let vb = vb.pp("down_blocks").pp(i);
            let cin = if i == 0 { ch[0] } else { ch[i - 1] };
            let mut resnets = Vec::new();
            let mut attentions = Vec::new();
            for j in 0..l {
                let rin = if j == 0 { cin } else { ch[i] };
                resnets.push(ResBlock::new(vb.pp("resnets").pp(j), rin, ch[i], temb, c)?);
                if c.down_has_attention(i) {
                    attentions.push(SpatialTransformer::new(
                        vb.pp("attentions").pp(j),
                        ch[i],
                        c.heads(i),
                        c,
                        &mut slots,
                    )?);
                }
            }
            let resample = if i + 1 < n {
                Some(conv3(ch[i], ch[i], 2, vb.pp("downsamplers.0.conv"))?)
            } else {
                None
            };
            down.push(Stage {
                resnets,
                attentions,
                resample,
            });
        }

        let rev: Vec<usize> = ch.iter().rev().copied().collect();
        let mut up = Vec::with_capacity(n);
        for i in 0..n {
            let vb = vb.pp("up_blocks").pp(i);
            let block = n - 1 - i; // same block in down-path numbering
            let prev = if i == 0 { rev[0] } else { rev[i - 1] };
            let skip_in = rev[(i + 1).min(n - 1)];
            let mut resnets = Vec::new();
            let mut attentions = Vec::new();
            for j in 0..=l {
                let skip = if j == l { skip_in } else { rev[i] };
                let rin = if j == 0 { prev } else { rev[i] };
                resnets.push(ResBlock::new(
                    vb.pp("resnets").pp(j),
                    rin + skip,
                    rev[i],
                    temb,
                    c,
                )?);
                if c.up_has_attention(i) {
                    attentions.push(SpatialTransformer::new(
                        vb.pp("attentions").pp(j),
                        rev[i],
                        c.heads(block),
                        c,
                        &mut slots,
                    )?);
                }
            }
            let resample = if i + 1 < n {
                Some(conv3(rev[i], rev[i], 1, vb.pp("upsamplers.0.conv"))?)
            } else {
                None
            };
            up.push(Stage {
                resnets,
                attentions,
                resample,
            });
        }

        let m = vb.pp("mid_block");
        let last = ch[n - 1];
        let mid_res = [
            ResBlock::new(m.pp("resnets.0"), last, last, temb, c)?,
            ResBlock::new(m.pp("resnets.1"), last, last, temb, c)?,
        ];
        let mid_attn =
            SpatialTransformer::new(m.pp("attentions.0"), last, c.heads(n - 1), c, &mut slots)?;
        let processors = slots.count();

        let unet = Self {
            conv_in: conv3(c.in_channels, ch[0], 1, vb.pp("conv_in"))?,
            cond_proj: match c.time_cond_proj_dim {
                Some(d) => Some(candle_nn::linear_no_bias(
                    d,
                    ch[0],
                    vb.pp("time_embedding.cond_proj"),
                )?),
                None => None,
            },
            cond_dim: c.time_cond_proj_dim,
            time1: candle_nn::linear(ch[0], temb, vb.pp("time_embedding.linear_1"))?,
            time2: candle_nn::linear(temb, temb, vb.pp("time_embedding.linear_2"))?,
            down,
            mid_res,
            mid_attn,
            up,
            norm_out: candle_nn::group_norm(
                c.norm_num_groups,
                ch[0],
                c.norm_eps,
                vb.pp("conv_norm_out"),
            )?,
            conv_out: conv3(ch[0], c.out_channels, 1, vb.pp("conv_out"))?,
            base: ch[0],
            flip_sin_to_cos: c.flip_sin_to_cos,
            freq_shift: c.freq_shift,
            has_adapter,
            in_channels: c.in_channels,
        };
        Ok((unet, processors))
    }

    /// Sinusoidal timestep features (diffusers `Timesteps`), computed in f32.
    fn time_features(
        &self,
        t: f64,
        batch: usize,
        dtype: DType,
        dev: &candle_core::Device,
    ) -> Result<Tensor> {
        let half = self.base / 2;
        let mut row = vec![0f32; self.base];
        for k in 0..half {
            let f = (-(10000f64.ln()) * k as f64 / (half as f64 - self.freq_shift)).exp();
            let (s, c) = (t * f).sin_cos();
            if self.flip_sin_to_cos {
                row[k] = c as f32;
                row[half + k] = s as f32;
            } else {
                row[k] = s as f32;
                row[half + k] = c as f32;
            }
        }
        Tensor::from_vec(row, (1, self.base), dev)?
            .to_dtype(dtype)?
            .repeat((batch, 1))
    }

    /// Predicts noise. `xs`: [B, C, h, w]; `text`: [B, L, cross]; `image`: tokens
    /// [B, N, cross] and their scale (ignored without an adapter).
    pub fn forward(
        &self,
        xs: &Tensor,
        t: f64,
        text: &Tensor,
        image: Option<ImageTokens>,
    ) -> Result<Tensor> {
        self.forward_cond(xs, t, text, image, None)
    }

    /// [`UNet::forward`] with the timestep condition of LCM-distilled UNets:
    /// `cond` [B, cond_dim] is [`guidance_embedding`] of the guidance scale. Like
    /// diffusers, a UNet without `cond_proj` ignores it, and one with it runs without
    /// it when none is given.
    pub fn forward_cond(
        &self,
        xs: &Tensor,
        t: f64,
        text: &Tensor,
        image: Option<ImageTokens>,
        cond: Option<&Tensor>,
    ) -> Result<Tensor> {
        let b = xs.dim(0)?;
        let image = if self.has_adapter { image } else { None };
        let mut feats = self.time_features(t, b, xs.dtype(), xs.device())?;
        if let (Some(p), Some(c)) = (&self.cond_proj, cond) {
            feats = (feats + p.forward(&c.to_dtype(xs.dtype())?)?)?;
        }
        let emb = self
            .time2
            .forward(&candle_nn::ops::silu(&self.time1.forward(&feats)?)?)?;

        let mut xs = self.conv_in.forward(xs)?;
        let mut skips = vec![xs.clone()];
        for st in &self.down {
            for (j, r) in st.resnets.iter().enumerate() {
                xs = r.forward(&xs, &emb)?;
                if let Some(a) = st.attentions.get(j) {
                    xs = a.forward(&xs, text, image)?;
                }
                skips.push(xs.clone());
            }
            if let Some(d) = &st.resample {
                xs = d.forward(&xs)?;
                skips.push(xs.clone());
            }
        }
        xs = self.mid_res[0].forward(&xs, &emb)?;
        xs = self.mid_attn.forward(&xs, text, image)?;
        xs = self.mid_res[1].forward(&xs, &emb)?;

        for st in &self.up {
            for (j, r) in st.resnets.iter().enumerate() {
                let skip = skips
                    .pop()
                    .ok_or_else(|| candle_core::Error::Msg("unet skip stack underflow".into()))?;
                xs = r.forward(&Tensor::cat(&[&xs, &skip], 1)?, &emb)?;
                if let Some(a) = st.attentions.get(j) {
                    xs = a.forward(&xs, text, image)?;
                }
            }
            if let Some(u) = &st.resample {
                // Upsample to the next skip's size so odd latent sizes round-trip.
                let (h, w) = match skips.last() {
                    Some(s) => (s.dim(2)?, s.dim(3)?),
                    None => (2 * xs.dim(2)?, 2 * xs.dim(3)?),
                };
                xs = u.forward(&xs.upsample_nearest2d(h, w)?)?;
            }
        }
        let xs = candle_nn::ops::silu(&self.norm_out.forward(&xs)?)?;
        self.conv_out.forward(&xs)
    }
}

/// diffusers' `get_guidance_scale_embedding(w)` for LCM-distilled UNets, with the same
/// float32 arithmetic: `w·1000` times `exp(−k·ln(10⁴)/(d/2 − 1))`, sines then cosines,
/// zero-padded to an odd `dim`. Returns [batch, dim] in f32. The pipelines pass
/// `w = guidance − 1`.
pub fn guidance_embedding(
    w: f32,
    dim: usize,
    batch: usize,
    dev: &candle_core::Device,
) -> Result<Tensor> {
    let half = dim / 2;
    let step = 10000f32.ln() / (half as f32 - 1.0);
    let w = w * 1000.0;
    let mut row = vec![0f32; dim];
    for k in 0..half {
        let arg = w * (k as f32 * -step).exp();
        row[k] = (arg as f64).sin() as f32;
        row[half + k] = (arg as f64).cos() as f32;
    }
    Tensor::from_vec(row, (1, dim), dev)?.repeat((batch, 1))
}
