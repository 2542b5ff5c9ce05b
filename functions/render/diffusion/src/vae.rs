//! `AutoencoderKL` assembled from candle-transformers' (unmodified) building blocks.
//! candle's own `AutoEncoderKL::encode` only offers a sample drawn from the unseeded
//! CPU generator; img2img needs the distribution's mean so that equal seeds give
//! equal pictures, hence this thin assembly.

use candle_core::{Module, Result, Tensor};
use candle_nn::{Conv2d, Conv2dConfig, GroupNorm, VarBuilder};
use candle_transformers::models::stable_diffusion::unet_2d_blocks::{
    DownEncoderBlock2D, DownEncoderBlock2DConfig, UNetMidBlock2D, UNetMidBlock2DConfig,
    UpDecoderBlock2D, UpDecoderBlock2DConfig,
};

use crate::config::VaeConfig;

pub struct Vae {
    enc_in: Conv2d,
    enc_down: Vec<DownEncoderBlock2D>,
    enc_mid: UNetMidBlock2D,
    enc_norm: GroupNorm,
    enc_out: Conv2d,
    quant: Option<Conv2d>,
    post_quant: Option<Conv2d>,
    dec_in: Conv2d,
    dec_mid: UNetMidBlock2D,
    dec_up: Vec<UpDecoderBlock2D>,
    dec_norm: GroupNorm,
    dec_out: Conv2d,
    pub scaling: f64,
    latent_channels: usize,
}

fn conv3(i: usize, o: usize, vb: VarBuilder) -> Result<Conv2d> {
    let cfg = Conv2dConfig {
        padding: 1,
        ..Default::default()
    };
    candle_nn::conv2d(i, o, 3, cfg, vb)
}

fn mid(vb: VarBuilder, ch: usize, groups: usize) -> Result<UNetMidBlock2D> {
    let cfg = UNetMidBlock2DConfig {
        resnet_eps: 1e-6,
        output_scale_factor: 1.,
        attn_num_head_channels: None,
        resnet_groups: Some(groups),
        ..Default::default()
    };
    UNetMidBlock2D::new(vb, ch, None, cfg)
}

impl Vae {
    pub fn new(vb: VarBuilder, c: &VaeConfig) -> Result<Self> {
        let ch = &c.block_out_channels;
        let n = ch.len();
        let last = ch[n - 1];
        let g = c.norm_num_groups;
        let lc = c.latent_channels;

        let e = vb.pp("encoder");
        let mut enc_down = Vec::with_capacity(n);
        for i in 0..n {
            let cfg = DownEncoderBlock2DConfig {
                num_layers: c.layers_per_block,
                resnet_eps: 1e-6,
                resnet_groups: g,
                add_downsample: i + 1 < n,
                downsample_padding: 0,
                ..Default::default()
            };
            let cin = if i == 0 { ch[0] } else { ch[i - 1] };
            enc_down.push(DownEncoderBlock2D::new(
                e.pp("down_blocks").pp(i),
                cin,
                ch[i],
                cfg,
            )?);
        }
        let d = vb.pp("decoder");
        let rev: Vec<usize> = ch.iter().rev().copied().collect();
        let mut dec_up = Vec::with_capacity(n);
        for i in 0..n {
            let cfg = UpDecoderBlock2DConfig {
                num_layers: c.layers_per_block + 1,
                resnet_eps: 1e-6,
                resnet_groups: g,
                add_upsample: i + 1 < n,
                ..Default::default()
            };
            let cin = if i == 0 { rev[0] } else { rev[i - 1] };
            dec_up.push(UpDecoderBlock2D::new(
                d.pp("up_blocks").pp(i),
                cin,
                rev[i],
                cfg,
            )?);
        }
        let one = Conv2dConfig::default();
        Ok(Self {
            enc_in: conv3(c.in_channels, ch[0], e.pp("conv_in"))?,
            enc_down,
            enc_mid: mid(e.pp("mid_block"), last, g)?,
            enc_norm: candle_nn::group_norm(g, last, 1e-6, e.pp("conv_norm_out"))?,
            enc_out: conv3(last, 2 * lc, e.pp("conv_out"))?,
            quant: if c.use_quant_conv {
                Some(candle_nn::conv2d(
                    2 * lc,
                    2 * lc,
                    1,
                    one,
                    vb.pp("quant_conv"),
                )?)
            } else {
                None
            },
            post_quant: if c.use_post_quant_conv {
                Some(candle_nn::conv2d(lc, lc, 1, one, vb.pp("post_quant_conv"))?)
            } else {
                None
            },
            dec_in: conv3(lc, last, d.pp("conv_in"))?,
            dec_mid: mid(d.pp("mid_block"), last, g)?,
            dec_up,
            dec_norm: candle_nn::group_norm(g, ch[0], 1e-6, d.pp("conv_norm_out"))?,
            dec_out: conv3(ch[0], c.out_channels, d.pp("conv_out"))?,
            scaling: c.scaling_factor,
            latent_channels: lc,
        })
    }

    /// Pixels in [-1, 1], [B, 3, H, W] → scaled latent mean [B, C, H/f, W/f].
    pub fn encode(&self, xs: &Tensor) -> Result<Tensor> {
        let mut xs = self.enc_in.forward(xs)?;
        for b in &self.enc_down {
            xs = b.forward(&xs)?;
        }
        let xs = self.enc_mid.forward(&xs, None)?;
        let xs = candle_nn::ops::silu(&self.enc_norm.forward(&xs)?)?;
        let mut xs = self.enc_out.forward(&xs)?;
        if let Some(q) = &self.quant {
            xs = q.forward(&xs)?;
        }
        xs.narrow(1, 0, self.latent_channels)? * self.scaling
    }

    /// Scaled latents → pixels in about [-1, 1].
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        let mut xs = (z / self.scaling)?;
        if let Some(q) = &self.post_quant {
            xs = q.forward(&xs)?;
        }
        let mut xs = self.dec_mid.forward(&self.dec_in.forward(&xs)?, None)?;
        for b in &self.dec_up {
            xs = b.forward(&xs)?;
        }
        let xs = candle_nn::ops::silu(&self.dec_norm.forward(&xs)?)?;
        self.dec_out.forward(&xs)
    }
}
