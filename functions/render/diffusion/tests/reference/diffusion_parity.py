#!/usr/bin/env python3
"""Reference outputs of the diffusers / transformers implementation for
likeness-diffusion's parity suite (tests/parity.rs).

Builds tiny random-weight models with diffusers and transformers (PyTorch, CPU,
float32), saves them with `save_pretrained` into `diffusion/model/` (plus two UNet
variants), puts IP-Adapter weights in with diffusers' own loader, runs every component
and img2img end to end on fixed inputs, and writes `diffusion/reference.safetensors`
and `diffusion/reference.json`. Versions and how to run: tests/reference/README.md.
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

import diffusers
import transformers
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    EulerAncestralDiscreteScheduler,
    UNet2DConditionModel,
)
from diffusers.pipelines.latent_consistency_models.pipeline_latent_consistency_img2img import (
    LatentConsistencyModelImg2ImgPipeline,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
)
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "diffusion")
MODEL = os.path.join(OUT, "model")
torch.set_grad_enabled(False)
torch.manual_seed(1234)
ref = {}  # tensors for reference.safetensors
meta = {
    "versions": {
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "pillow": Image.__version__,
        "numpy": np.__version__,
    }
}

CROSS = 32
SCHEDULER = {
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "num_train_timesteps": 1000,
    "steps_offset": 1,
    "set_alpha_to_one": False,
    "prediction_type": "epsilon",
    "clip_sample": False,
    "timestep_spacing": "leading",
}


def put(name, t):
    ref[name] = t.detach().to(torch.float32).contiguous().clone()


def randomize(module, scale=0.2):
    """diffusers zero-initialises some output layers; random values everywhere make
    every weight matter."""
    g = torch.Generator().manual_seed(sum(map(ord, type(module).__name__)))
    for p in module.parameters():
        p.copy_(torch.randn(p.shape, generator=g) * scale)


def image(w, h, seed):
    """A smooth colour field with some texture: deterministic and resize-sensitive."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack(
        [
            128 + 90 * np.sin(x / (3 + seed) + y / 7),
            128 + 90 * np.cos(y / (4 + seed) - x / 11),
            128 + 60 * np.sin((x + y) / 5),
        ],
        -1,
    )
    base += rng.normal(0, 18, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), "RGB")


def reset(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)


# --- tokenizer ---------------------------------------------------------------
def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build_tokenizer(path):
    chars = list(bytes_to_unicode().values())
    vocab = {}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    words = ["photo", "portrait", "painting", "dog", "café", "oil", "of", "the", "नमस", "οδυσσευσ"]
    merges = []
    enc = bytes_to_unicode()
    for word in words:
        pieces = [enc[b] for b in word.encode("utf-8")]
        pieces[-1] += "</w>"
        while len(pieces) > 1:
            a, b = pieces[0], pieces[1]
            if (a, b) not in merges:
                merges.append((a, b))
            vocab.setdefault(a + b, len(vocab))
            pieces = [a + b] + pieces[2:]
    for s in ["<|startoftext|>", "<|endoftext|>"]:
        vocab[s] = len(vocab)
    tok = CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=77)
    tok.save_pretrained(path)
    # The files this crate reads, as diffusers' SD 1.5 folders have them.
    with open(os.path.join(path, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(path, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    assert tok("a dog").input_ids[0] == vocab["<|startoftext|>"]
    return tok, len(vocab)


PROMPTS = [
    "a watercolor portrait of the dog",
    "An oil painting of Zoe\u0308 at the cafe\u0301",  # decomposed: NFC composes
    "An oil painting of Zo\u00eb at the caf\u00e9",  # composed
    "नमस्ते, portrait of Priya",  # Devanagari marks are not \p{L}
    "ΟΔΥΣΣΕΥΣ the dog",  # final sigma: per-character lower case
    "don't  stop\tthe 2024 party!!'s   ",
    "犬の写真 🐶 ｐｈｏｔｏ １２",
    "e\u0301\u0301 x\u0301",
    "portrait " * 60,  # truncation to 77
]


def tokenizer_cases(tok):
    cases = []
    for p in PROMPTS:
        ids = tok(p, padding="max_length", max_length=77, truncation=True).input_ids
        cases.append({"prompt": p, "ids": ids})
    meta["tokenizer"] = cases


# --- components --------------------------------------------------------------
def unet_config(**over):
    c = dict(
        sample_size=16,
        in_channels=4,
        out_channels=4,
        block_out_channels=(16, 32),
        layers_per_block=1,
        cross_attention_dim=CROSS,
        attention_head_dim=4,
        norm_num_groups=8,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )
    c.update(over)
    return c


def ip_state_dict(unet, proj_dim, tokens, seed):
    """An ip-adapter_sd15-shaped state dict for `unet`, random."""
    g = torch.Generator().manual_seed(seed)
    image_proj = {
        "proj.weight": torch.randn(tokens * CROSS, proj_dim, generator=g) * 0.2,
        "proj.bias": torch.randn(tokens * CROSS, generator=g) * 0.2,
        "norm.weight": 1 + torch.randn(CROSS, generator=g) * 0.1,
        "norm.bias": torch.randn(CROSS, generator=g) * 0.1,
    }
    ip = {}
    for i, name in enumerate(unet.attn_processors.keys()):
        if name.endswith("attn2.processor"):
            if name.startswith("mid_block"):
                hidden = unet.config.block_out_channels[-1]
            elif name.startswith("up_blocks"):
                b = int(name[len("up_blocks.")])
                hidden = list(reversed(unet.config.block_out_channels))[b]
            else:
                b = int(name[len("down_blocks.")])
                hidden = unet.config.block_out_channels[b]
            ip[f"{i}.to_k_ip.weight"] = torch.randn(hidden, CROSS, generator=g) * 0.2
            ip[f"{i}.to_v_ip.weight"] = torch.randn(hidden, CROSS, generator=g) * 0.2
    return {"image_proj": image_proj, "ip_adapter": ip}


def flat(sd):
    return {f"{k}.{n}": t.contiguous() for k, d in sd.items() for n, t in d.items()}


def with_adapter(unet, sd):
    """Loads the adapter with diffusers' own loader; returns the image projection."""
    unet._load_ip_adapter_weights([sd])
    return unet.encoder_hid_proj


def set_scale(unet, scale):
    for p in unet.attn_processors.values():
        if hasattr(p, "scale"):
            p.scale = [scale]


def main():
    reset(OUT)
    os.makedirs(MODEL)

    tok, vocab_size = build_tokenizer(os.path.join(MODEL, "tokenizer"))
    tokenizer_cases(tok)

    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=vocab_size,
            hidden_size=CROSS,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=77,
            hidden_act="quick_gelu",
            bos_token_id=vocab_size - 2,
            eos_token_id=vocab_size - 1,
            pad_token_id=vocab_size - 1,
        )
    ).eval()
    randomize(text, 0.1)
    text.save_pretrained(os.path.join(MODEL, "text_encoder"))

    vision = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            hidden_act="gelu",
            image_size=32,
            patch_size=8,
            projection_dim=24,
        )
    ).eval()
    randomize(vision, 0.1)
    vision.save_pretrained(os.path.join(MODEL, "image_encoder"))
    processor = CLIPImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )

    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=32,
    ).eval()
    randomize(vae, 0.1)
    vae.save_pretrained(os.path.join(MODEL, "vae"))

    unet = UNet2DConditionModel(**unet_config()).eval()
    randomize(unet, 0.1)
    unet.save_pretrained(os.path.join(MODEL, "unet"))

    os.makedirs(os.path.join(MODEL, "scheduler"))
    with open(os.path.join(MODEL, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump({"_class_name": "DDIMScheduler", **SCHEDULER}, f, indent=1)

    sd = ip_state_dict(unet, 24, 4, 7)
    os.makedirs(os.path.join(MODEL, "ip_adapter"))
    save_file(flat(sd), os.path.join(MODEL, "ip_adapter", "ip-adapter_tiny.safetensors"))
    # The published format: a zip-format torch pickle of the nested dict.
    torch.save(sd, os.path.join(OUT, "ip-adapter_tiny.bin"))
    proj = with_adapter(unet, sd)

    # Variant: linear projections, a head count per block, attention in both blocks.
    lin = UNet2DConditionModel(
        **unet_config(
            use_linear_projection=True,
            attention_head_dim=(2, 8),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        )
    ).eval()
    randomize(lin, 0.1)
    lin.save_pretrained(os.path.join(OUT, "unet_linear"))
    lin_sd = ip_state_dict(lin, 24, 4, 8)
    save_file(flat(lin_sd), os.path.join(OUT, "unet_linear", "ip-adapter.safetensors"))
    with_adapter(lin, lin_sd)

    # Variant: LCM-distilled (guidance embedding through time_embedding.cond_proj).
    lcm = UNet2DConditionModel(**unet_config(time_cond_proj_dim=16)).eval()
    randomize(lcm, 0.1)
    lcm.save_pretrained(os.path.join(OUT, "unet_lcm"))

    # --- Pillow's bicubic and CLIP preprocessing ---
    src = image(41, 29, 3)
    src.save(os.path.join(OUT, "resize_src.png"))
    resized = []
    for w, h in [(17, 13), (64, 47), (41, 60), (100, 11), (60, 20), (30, 50), (200, 5), (45, 28)]:
        r = src.resize((w, h), Image.BICUBIC)
        put(f"resize.{w}x{h}", torch.from_numpy(np.asarray(r).copy()))
        resized.append([w, h])
    meta["resize_sizes"] = resized

    crops = []
    for i, (w, h) in enumerate([(200, 305), (45, 31), (32, 32), (33, 50)]):
        name = f"crop_{w}x{h}.png"
        im = image(w, h, 10 + i)
        im.save(os.path.join(OUT, name))
        px = processor(images=im, return_tensors="pt").pixel_values
        put(f"preprocess.{name}", px)
        put(f"image_embeds.{name}", vision(pixel_values=px).image_embeds)
        crops.append(name)
    meta["crops"] = crops

    # --- text encoder ---
    ids = tok(PROMPTS[0], padding="max_length", max_length=77, truncation=True).input_ids
    put("text.ids", torch.tensor(ids, dtype=torch.float32))
    put("text.hidden", text(torch.tensor([ids])).last_hidden_state)

    # --- image projection ---
    emb = ref["image_embeds.crop_200x305.png"]
    put("image_proj.tokens", proj([emb[:, None, :]])[0])
    put("image_proj.zero", proj([torch.zeros_like(emb)[:, None, :]])[0])

    # --- VAE ---
    photo = image(36, 28, 20)
    photo.save(os.path.join(OUT, "photo_36x28.png"))
    pixels = torch.from_numpy(np.asarray(photo).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    sf = vae.config.scaling_factor
    put("vae.latent", vae.encode(pixels).latent_dist.mean * sf)
    g = torch.Generator().manual_seed(5)
    z = torch.randn(1, 4, 7, 9, generator=g)
    put("vae.z", z)
    put("vae.decoded", vae.decode(z / sf).sample)

    # --- UNets: batch 2, odd latent sizes, several adapter scales ---
    g = torch.Generator().manual_seed(6)
    x = torch.randn(2, 4, 9, 7, generator=g)
    ctx = torch.randn(2, 77, CROSS, generator=g)
    img_emb = torch.randn(2, 1, 24, generator=g)
    put("unet.x", x)
    put("unet.ctx", ctx)
    put("unet.image_embeds", img_emb[:, 0])
    t = 601
    meta["unet_t"] = t
    scales = [0.0, 0.5, 1.0]
    meta["unet_scales"] = scales
    for s in scales:
        set_scale(unet, s)
        out = unet(x, t, encoder_hidden_states=ctx, added_cond_kwargs={"image_embeds": [img_emb]}).sample
        put(f"unet.out.{s}", out)
    put("unet.image_tokens", proj([img_emb])[0])

    set_scale(lin, 0.7)
    lin_proj = lin.encoder_hid_proj
    put("unet_linear.out", lin(x, t, encoder_hidden_states=ctx, added_cond_kwargs={"image_embeds": [img_emb]}).sample)
    put("unet_linear.image_tokens", lin_proj([img_emb])[0])

    w = torch.tensor([4.5 - 1.0, 1.5 - 1.0])
    meta["lcm_guidance"] = [4.5, 1.5]
    wemb = LatentConsistencyModelImg2ImgPipeline.get_guidance_scale_embedding(None, w, embedding_dim=16)
    put("unet_lcm.w_embedding", wemb)
    put("unet_lcm.out", lcm(x, t, encoder_hidden_states=ctx, timestep_cond=wemb).sample)
    put("unet_lcm.out_without_cond", lcm(x, t, encoder_hidden_states=ctx).sample)

    # --- img2img end to end, fed recorded noise ---
    meta["img2img"] = []
    crop = Image.open(os.path.join(OUT, "crop_45x31.png"))
    for kind, cls in [("ddim", DDIMScheduler), ("euler_a", EulerAncestralDiscreteScheduler)]:
        case = img2img(kind, cls, tok, text, vae, unet, proj, vision, processor, photo, crop)
        meta["img2img"].append(case)

    save_file(ref, os.path.join(OUT, "reference.safetensors"))
    with open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    total = sum(
        os.path.getsize(os.path.join(d, n)) for d, _, ns in os.walk(OUT) for n in ns
    )
    print(f"wrote {OUT}: {total / 1e6:.2f} MB", file=sys.stderr)


def img2img(kind, cls, tok, text, vae, unet, proj, vision, processor, photo, crop):
    steps, strength, guidance, ip_scale, batch = 10, 0.6, 5.0, 0.6, 2
    prompt, negative = "a portrait of the dog, oil painting", "blurry"
    sched = cls.from_config(SCHEDULER)
    sched.set_timesteps(steps)
    init = min(int(steps * strength), steps)
    t_start = max(steps - init, 0)
    timesteps = sched.timesteps[t_start * sched.order :]
    if hasattr(sched, "set_begin_index"):
        sched.set_begin_index(t_start * sched.order)

    enc = lambda p: text(
        torch.tensor([tok(p, padding="max_length", max_length=77, truncation=True).input_ids])
    ).last_hidden_state
    ctx = torch.cat([enc(negative).repeat(batch, 1, 1), enc(prompt).repeat(batch, 1, 1)])
    embeds = vision(pixel_values=processor(images=crop, return_tensors="pt").pixel_values).image_embeds
    image_embeds = torch.cat([torch.zeros_like(embeds).repeat(batch, 1), embeds.repeat(batch, 1)])[:, None]
    set_scale(unet, ip_scale)

    pixels = torch.from_numpy(np.asarray(photo).astype(np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    sf = vae.config.scaling_factor
    latents0 = (vae.encode(pixels).latent_dist.mean * sf).repeat(batch, 1, 1, 1)
    g = torch.Generator().manual_seed(11)
    noises = [torch.randn(latents0.shape, generator=g)]
    latents = sched.add_noise(latents0, noises[0], timesteps[:1])
    step_gen = torch.Generator().manual_seed(12)
    record = torch.Generator().manual_seed(12)
    for t in timesteps:
        inp = sched.scale_model_input(torch.cat([latents] * 2), t)
        out = unet(inp, t, encoder_hidden_states=ctx, added_cond_kwargs={"image_embeds": [image_embeds]}).sample
        u, c = out.chunk(2)
        eps = u + guidance * (c - u)
        if kind == "euler_a":
            noises.append(torch.randn(latents.shape, generator=record))
        latents = sched.step(eps, t, latents, generator=step_gen).prev_sample
    images = vae.decode(latents / sf).sample
    images = (images / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    images = (images * 255).round().astype(np.uint8)
    put(f"img2img.{kind}.noise", torch.stack(noises))
    put(f"img2img.{kind}.images", torch.from_numpy(images))
    put(f"img2img.{kind}.latents", latents)
    return {
        "kind": kind,
        "steps": steps,
        "strength": strength,
        "guidance": guidance,
        "ip_scale": ip_scale,
        "batch": batch,
        "prompt": prompt,
        "negative_prompt": negative,
        "timesteps": [float(t) for t in timesteps],
    }


if __name__ == "__main__":
    main()
