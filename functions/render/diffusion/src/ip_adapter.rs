//! IP-Adapter image projection (`image_proj.*` of ip-adapter_sd15): CLIP image
//! embedding → `tokens` image tokens of the UNet's cross-attention width.

use candle_core::{Module, Result, Tensor};
use candle_nn::{LayerNorm, Linear, VarBuilder};

pub struct ImageProj {
    proj: Linear,
    norm: LayerNorm,
    pub tokens: usize,
    cross: usize,
}

impl ImageProj {
    pub fn new(vb: VarBuilder, embed: usize, cross: usize, tokens: usize) -> Result<Self> {
        Ok(Self {
            proj: candle_nn::linear(embed, tokens * cross, vb.pp("proj"))?,
            norm: candle_nn::layer_norm(cross, 1e-5, vb.pp("norm"))?,
            tokens,
            cross,
        })
    }

    /// [B, embed] → [B, tokens, cross].
    pub fn forward(&self, embeds: &Tensor) -> Result<Tensor> {
        let b = embeds.dim(0)?;
        let x = self
            .proj
            .forward(embeds)?
            .reshape((b, self.tokens, self.cross))?;
        self.norm.forward(&x)
    }
}
