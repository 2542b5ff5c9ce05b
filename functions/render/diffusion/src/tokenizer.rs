//! CLIP's byte-level BPE tokenizer, read from diffusers' `tokenizer/vocab.json` and
//! `tokenizer/merges.txt`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use crate::error::LoadError;

/// CLIP's pre-tokenizer pattern as transformers (tokenizers) runs it. `\s` of the
/// regex crate is Unicode White_Space, as in Oniguruma; the `<|...|>` specials are not
/// matched as words because prompts never carry them (they would be split to pieces).
const SPLIT: &str = r"'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+";

const BOS: &str = "<|startoftext|>";
const EOS: &str = "<|endoftext|>";

pub struct ClipTokenizer {
    vocab: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
    byte_char: [char; 256],
    bos: u32,
    eos: u32,
}

/// GPT-2's reversible byte → printable character table.
fn byte_chars() -> [char; 256] {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut table = ['\0'; 256];
    for &b in &printable {
        table[b as usize] = char::from_u32(b).unwrap_or('\0');
    }
    let mut n = 0;
    for b in 0..256u32 {
        if !printable.contains(&b) {
            printable.push(b);
            table[b as usize] = char::from_u32(256 + n).unwrap_or('\0');
            n += 1;
        }
    }
    table
}

impl ClipTokenizer {
    pub fn from_dir(dir: &Path) -> Result<Self, LoadError> {
        let vocab_path = dir.join("vocab.json");
        let merges_path = dir.join("merges.txt");
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    LoadError::MissingFile {
                        path: p.to_path_buf(),
                    }
                } else {
                    LoadError::Io {
                        path: p.to_path_buf(),
                        source: e,
                    }
                }
            })
        };
        let vocab: HashMap<String, u32> = serde_json::from_str(&read(&vocab_path)?)
            .map_err(|e| LoadError::Tokenizer(format!("{}: {e}", vocab_path.display())))?;
        let merges = read(&merges_path)?;
        Self::new(vocab, &merges)
    }

    pub fn new(vocab: HashMap<String, u32>, merges: &str) -> Result<Self, LoadError> {
        let mut ranks = HashMap::new();
        for line in merges
            .lines()
            .filter(|l| !l.starts_with("#version") && !l.trim().is_empty())
        {
            let mut parts = line.split_whitespace();
            match (parts.next(), parts.next(), parts.next()) {
                (Some(a), Some(b), None) => {
                    let r = ranks.len();
                    ranks.entry((a.to_string(), b.to_string())).or_insert(r);
                }
                _ => return Err(LoadError::Tokenizer(format!("bad merges line {line:?}"))),
            }
        }
        let id = |t: &str| {
            vocab
                .get(t)
                .copied()
                .ok_or_else(|| LoadError::Tokenizer(format!("vocab.json lacks {t}")))
        };
        let (bos, eos) = (id(BOS)?, id(EOS)?);
        Ok(Self {
            vocab,
            ranks,
            byte_char: byte_chars(),
            bos,
            eos,
        })
    }

    /// Normalises and splits like transformers' CLIP tokenizer: NFC, whitespace runs
    /// to one space, per-character lower case (no final-sigma rule), then the
    /// pre-tokenizer regex (contractions, letter runs in the `\p{L}` sense, single
    /// `\p{N}` digits, runs of anything else that is not a space).
    fn words(text: &str) -> Vec<String> {
        static SPLIT_RE: LazyLock<Regex> =
            LazyLock::new(|| Regex::new(SPLIT).expect("constant pattern compiles"));
        let text: String = text.nfc().flat_map(char::to_lowercase).collect::<String>();
        SPLIT_RE
            .find_iter(&text)
            .map(|m| m.as_str().to_string())
            .collect()
    }

    fn bpe(&self, word: &str) -> Vec<String> {
        let mut parts: Vec<String> = word
            .bytes()
            .map(|b| self.byte_char[b as usize].to_string())
            .collect();
        if let Some(last) = parts.last_mut() {
            last.push_str("</w>");
        }
        while parts.len() > 1 {
            let best = (0..parts.len() - 1)
                .filter_map(|k| {
                    self.ranks
                        .get(&(parts[k].clone(), parts[k + 1].clone()))
                        .map(|r| (*r, k))
                })
                .min();
            let Some((_, k)) = best else { break };
            let merged = format!("{}{}", parts[k], parts[k + 1]);
            let (a, b) = (parts[k].clone(), parts[k + 1].clone());
            let mut next = Vec::with_capacity(parts.len());
            let mut i = 0;
            while i < parts.len() {
                if i + 1 < parts.len() && parts[i] == a && parts[i + 1] == b {
                    next.push(merged.clone());
                    i += 2;
                } else {
                    next.push(parts[i].clone());
                    i += 1;
                }
            }
            parts = next;
        }
        parts
    }

    /// `[BOS] tokens [EOS] EOS…` padded or truncated to `len` (SD pads with EOS).
    pub fn encode(&self, text: &str, len: usize) -> Vec<u32> {
        let mut ids = vec![self.bos];
        'outer: for w in Self::words(text) {
            for t in self.bpe(&w) {
                if ids.len() + 1 >= len {
                    break 'outer;
                }
                // Every single byte character is in a CLIP vocab; an unknown piece can
                // only come from a hand-made vocab and becomes the unknown token, which
                // for CLIP is `<|endoftext|>`, as transformers does.
                ids.push(self.vocab.get(&t).copied().unwrap_or(self.eos));
            }
        }
        ids.resize(len, self.eos);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_clip() {
        assert_eq!(
            ClipTokenizer::words("A  Dog's 42 oil-painting!!"),
            vec!["a", "dog", "'s", "4", "2", "oil", "-", "painting", "!!"]
        );
    }

    #[test]
    fn normalises_to_nfc_and_splits_on_letters_only() {
        // "e" + combining acute composes to "é" and stays in the word.
        assert_eq!(
            ClipTokenizer::words("cafe\u{301} au lait"),
            vec!["café", "au", "lait"]
        );
        // Devanagari vowel signs and virama are marks (Mc/Mn), not \p{L}: they end
        // the letter run, although `char::is_alphabetic` counts some of them.
        assert_eq!(ClipTokenizer::words("नमस्ते"), vec!["नमस", "्", "त", "े"]);
        // Per-character lower case: a final capital sigma becomes σ, not ς.
        assert_eq!(ClipTokenizer::words("ΟΔΥΣΣΕΥΣ"), vec!["οδυσσευσ"]);
    }

    #[test]
    fn merges_by_rank() {
        let bc = byte_chars();
        let mut vocab = HashMap::new();
        for (i, c) in bc.iter().enumerate() {
            vocab.insert(c.to_string(), i as u32);
            vocab.insert(format!("{c}</w>"), 256 + i as u32);
        }
        vocab.insert("ca".into(), 512);
        vocab.insert("cat</w>".into(), 513);
        vocab.insert(BOS.into(), 514);
        vocab.insert(EOS.into(), 515);
        let tok = ClipTokenizer::new(vocab, "#version: 0.2\nc a\nca t</w>\n").unwrap();
        assert_eq!(
            tok.encode("cat cab", 8),
            vec![514, 513, 512, 256 + b'b' as u32, 515, 515, 515, 515]
        );
    }
}
