//! The parts of diffusers' / transformers' `config.json` files this library uses.

use std::path::Path;

use serde::Deserialize;

use crate::error::LoadError;

pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            LoadError::MissingFile {
                path: path.to_path_buf(),
            }
        } else {
            LoadError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        }
    })?;
    serde_json::from_str(&text).map_err(|e| LoadError::Config {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

/// diffusers writes head counts either as one number or one per block.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum PerBlock {
    One(usize),
    Each(Vec<usize>),
}

impl PerBlock {
    pub fn get(&self, block: usize) -> usize {
        match self {
            PerBlock::One(n) => *n,
            PerBlock::Each(v) => v[block.min(v.len().saturating_sub(1))],
        }
    }
}

fn d4() -> usize {
    4
}
fn d64() -> PerBlock {
    PerBlock::One(64)
}
fn d32() -> usize {
    32
}
fn d_heads() -> PerBlock {
    PerBlock::One(8)
}
fn d_eps() -> f64 {
    1e-5
}
fn d_true() -> bool {
    true
}
fn d_one() -> usize {
    1
}

/// `unet/config.json` of an SD 1.5-family `UNet2DConditionModel`.
#[derive(Debug, Clone, Deserialize)]
pub struct UNetConfig {
    #[serde(default = "d4")]
    pub in_channels: usize,
    #[serde(default = "d4")]
    pub out_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    pub cross_attention_dim: usize,
    /// diffusers' historical quirk: for SD 1.x/2.x this is the number of heads.
    #[serde(default = "d_heads")]
    pub attention_head_dim: PerBlock,
    #[serde(default)]
    pub num_attention_heads: Option<PerBlock>,
    #[serde(default = "d32")]
    pub norm_num_groups: usize,
    #[serde(default = "d_eps")]
    pub norm_eps: f64,
    pub down_block_types: Vec<String>,
    pub up_block_types: Vec<String>,
    #[serde(default)]
    pub use_linear_projection: bool,
    #[serde(default = "d_true")]
    pub flip_sin_to_cos: bool,
    #[serde(default)]
    pub freq_shift: f64,
    #[serde(default = "d_one")]
    pub transformer_layers_per_block: usize,
    #[serde(default)]
    pub addition_embed_type: Option<String>,
    #[serde(default)]
    pub class_embed_type: Option<String>,
    /// Latent side the UNet was trained at (64 for SD 1.5's 512 px).
    /// (diffusers allows `[h, w]`; the first is used.)
    #[serde(default = "d64")]
    pub sample_size: PerBlock,
    /// Width of the guidance-scale embedding of LCM-distilled UNets.
    #[serde(default)]
    pub time_cond_proj_dim: Option<usize>,
    // Options this UNet does not implement; read only to refuse them at load.
    #[serde(default)]
    pub time_embedding_type: Option<String>,
    #[serde(default)]
    pub timestep_post_act: Option<String>,
    #[serde(default)]
    pub time_embedding_act_fn: Option<String>,
    #[serde(default)]
    pub resnet_time_scale_shift: Option<String>,
    #[serde(default)]
    pub mid_block_type: Option<String>,
    #[serde(default)]
    pub encoder_hid_dim: Option<usize>,
    #[serde(default)]
    pub center_input_sample: bool,
    #[serde(default)]
    pub only_cross_attention: serde_json::Value,
    #[serde(default)]
    pub conv_in_kernel: Option<usize>,
    #[serde(default)]
    pub conv_out_kernel: Option<usize>,
}

impl UNetConfig {
    pub fn heads(&self, block: usize) -> usize {
        self.num_attention_heads
            .as_ref()
            .unwrap_or(&self.attention_head_dim)
            .get(block)
    }

    /// Whether down block `i` has attention (true) or only ResNets (false).
    pub fn down_has_attention(&self, i: usize) -> bool {
        self.down_block_types[i] == "CrossAttnDownBlock2D"
    }

    pub fn up_has_attention(&self, i: usize) -> bool {
        self.up_block_types[i] == "CrossAttnUpBlock2D"
    }

    pub fn validate(&self) -> Result<(), String> {
        let n = self.block_out_channels.len();
        if n == 0 {
            return Err("block_out_channels is empty".into());
        }
        if self.down_block_types.len() != n || self.up_block_types.len() != n {
            return Err(format!(
                "{n} block_out_channels but {} down and {} up block types",
                self.down_block_types.len(),
                self.up_block_types.len()
            ));
        }
        for t in &self.down_block_types {
            if t != "CrossAttnDownBlock2D" && t != "DownBlock2D" {
                return Err(format!("down block type {t} is not supported"));
            }
        }
        for t in &self.up_block_types {
            if t != "CrossAttnUpBlock2D" && t != "UpBlock2D" {
                return Err(format!("up block type {t} is not supported"));
            }
        }
        if let Some(t) = &self.addition_embed_type {
            return Err(format!(
                "addition_embed_type {t} (SDXL micro-conditioning) is not supported"
            ));
        }
        if let Some(t) = &self.class_embed_type {
            return Err(format!("class_embed_type {t} is not supported"));
        }
        if let Some(t) = self
            .time_embedding_type
            .as_deref()
            .filter(|t| *t != "positional")
        {
            return Err(format!("time_embedding_type {t} is not supported"));
        }
        if let Some(t) = &self.timestep_post_act {
            return Err(format!("timestep_post_act {t} is not supported"));
        }
        if let Some(t) = &self.time_embedding_act_fn {
            return Err(format!("time_embedding_act_fn {t} is not supported"));
        }
        if let Some(t) = self
            .resnet_time_scale_shift
            .as_deref()
            .filter(|t| *t != "default")
        {
            return Err(format!("resnet_time_scale_shift {t} is not supported"));
        }
        if let Some(t) = self
            .mid_block_type
            .as_deref()
            .filter(|t| *t != "UNetMidBlock2DCrossAttn")
        {
            return Err(format!("mid_block_type {t} is not supported"));
        }
        if self.encoder_hid_dim.is_some() {
            return Err("encoder_hid_dim (a built-in image projection) is not supported".into());
        }
        if self.center_input_sample {
            return Err("center_input_sample is not supported".into());
        }
        let only_cross = match &self.only_cross_attention {
            serde_json::Value::Bool(b) => *b,
            serde_json::Value::Array(v) => v.iter().any(|x| x.as_bool() == Some(true)),
            _ => false,
        };
        if only_cross {
            return Err("only_cross_attention is not supported".into());
        }
        for (name, k) in [
            ("conv_in_kernel", self.conv_in_kernel),
            ("conv_out_kernel", self.conv_out_kernel),
        ] {
            if let Some(k) = k.filter(|k| *k != 3) {
                return Err(format!("{name} {k} is not supported (only 3)"));
            }
        }
        if self.time_cond_proj_dim == Some(0) {
            return Err("time_cond_proj_dim must be positive".into());
        }
        for heads in [
            Some(&self.attention_head_dim),
            self.num_attention_heads.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if let PerBlock::Each(v) = heads
                && v.len() != n
            {
                return Err(format!("{} head counts for {n} blocks", v.len()));
            }
        }
        if self.norm_num_groups == 0 || self.layers_per_block == 0 {
            return Err("norm_num_groups and layers_per_block must be positive".into());
        }
        for (i, &c) in self.block_out_channels.iter().enumerate() {
            if self.heads(i) == 0 {
                return Err(format!("block {i}: zero attention heads"));
            }
            if c % self.norm_num_groups != 0 {
                return Err(format!(
                    "block {i}: {c} channels not divisible by {} groups",
                    self.norm_num_groups
                ));
            }
            if c % self.heads(i) != 0 {
                return Err(format!(
                    "block {i}: {c} channels not divisible by {} heads",
                    self.heads(i)
                ));
            }
        }
        Ok(())
    }
}

fn d_scaling() -> f64 {
    0.18215
}
fn d_true_b() -> bool {
    true
}

/// `vae/config.json` of an `AutoencoderKL`.
#[derive(Debug, Clone, Deserialize)]
pub struct VaeConfig {
    #[serde(default = "d_three")]
    pub in_channels: usize,
    #[serde(default = "d_three")]
    pub out_channels: usize,
    pub block_out_channels: Vec<usize>,
    pub layers_per_block: usize,
    #[serde(default = "d4")]
    pub latent_channels: usize,
    #[serde(default = "d32")]
    pub norm_num_groups: usize,
    #[serde(default = "d_scaling")]
    pub scaling_factor: f64,
    #[serde(default = "d_true_b")]
    pub use_quant_conv: bool,
    #[serde(default = "d_true_b")]
    pub use_post_quant_conv: bool,
}

fn d_three() -> usize {
    3
}

impl VaeConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.block_out_channels.is_empty() || self.layers_per_block == 0 {
            return Err("block_out_channels and layers_per_block must be non-empty".into());
        }
        if self.norm_num_groups == 0
            || self
                .block_out_channels
                .iter()
                .any(|c| c % self.norm_num_groups != 0)
        {
            return Err("channels must be multiples of norm_num_groups".into());
        }
        if self.latent_channels == 0
            || !self.scaling_factor.is_finite()
            || self.scaling_factor <= 0.0
        {
            return Err("latent_channels and scaling_factor must be positive".into());
        }
        Ok(())
    }

    /// Pixels per latent cell along each side.
    pub fn factor(&self) -> usize {
        1 << (self.block_out_channels.len() - 1)
    }
}

fn d_ln_eps() -> f64 {
    1e-5
}
fn d_act() -> String {
    "quick_gelu".into()
}

/// `text_encoder/config.json` (`CLIPTextModel`) or `image_encoder/config.json`
/// (`CLIPVisionModelWithProjection`); the fields both share plus each one's own.
#[derive(Debug, Clone, Deserialize)]
pub struct ClipConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "d_act")]
    pub hidden_act: String,
    #[serde(default = "d_ln_eps")]
    pub layer_norm_eps: f64,
    // text only
    #[serde(default)]
    pub vocab_size: usize,
    #[serde(default)]
    pub max_position_embeddings: usize,
    // vision only
    #[serde(default)]
    pub image_size: usize,
    #[serde(default)]
    pub patch_size: usize,
    #[serde(default)]
    pub projection_dim: usize,
    #[serde(default = "d_three")]
    pub num_channels: usize,
}

impl ClipConfig {
    pub fn validate(&self, vision: bool) -> Result<(), String> {
        if !matches!(self.hidden_act.as_str(), "quick_gelu" | "gelu") {
            return Err(format!("hidden_act {} is not supported", self.hidden_act));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err("hidden_size not divisible by num_attention_heads".into());
        }
        if vision {
            if self.patch_size == 0 || !self.image_size.is_multiple_of(self.patch_size) {
                return Err("image_size must be a multiple of patch_size".into());
            }
            if self.projection_dim == 0 {
                return Err("projection_dim missing".into());
            }
        } else if self.vocab_size == 0 || self.max_position_embeddings < 2 {
            return Err("vocab_size / max_position_embeddings missing".into());
        }
        Ok(())
    }
}

fn d_train() -> usize {
    1000
}
fn d_beta_start() -> f64 {
    0.00085
}
fn d_beta_end() -> f64 {
    0.012
}
fn d_schedule() -> String {
    "scaled_linear".into()
}
fn d_pred() -> String {
    "epsilon".into()
}

/// `scheduler/scheduler_config.json`: the noise schedule the model was trained with.
/// Defaults are SD 1.5's.
#[derive(Debug, Clone, Deserialize)]
pub struct NoiseScheduleConfig {
    #[serde(default = "d_train")]
    pub num_train_timesteps: usize,
    #[serde(default = "d_beta_start")]
    pub beta_start: f64,
    #[serde(default = "d_beta_end")]
    pub beta_end: f64,
    #[serde(default = "d_schedule")]
    pub beta_schedule: String,
    #[serde(default = "d_pred")]
    pub prediction_type: String,
    #[serde(default)]
    pub steps_offset: usize,
    #[serde(default)]
    pub set_alpha_to_one: bool,
}

impl Default for NoiseScheduleConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("all fields have defaults")
    }
}
