//! Reader for dlib's portable serialization format (`dlib/serialize.h`).
//!
//! Integers: a control byte (bit 7 = negative, low 4 bits = byte count) then
//! the magnitude little-endian. Floats: two such integers, mantissa then
//! exponent, value = mantissa * 2^exponent. Errors carry the byte offset so a
//! truncated model file is reported precisely.

use std::path::{Path, PathBuf};

use crate::error::{IdentityError, Result};

const EXP_INF: i64 = 32000;
const EXP_NINF: i64 = 32001;
const EXP_NAN: i64 = 32002;

pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    path: PathBuf,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8], path: &Path) -> Self {
        Self {
            bytes,
            pos: 0,
            path: path.to_path_buf(),
        }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    pub fn error(&self, reason: impl Into<String>) -> IdentityError {
        IdentityError::ModelFormat {
            path: self.path.clone(),
            offset: self.pos,
            reason: reason.into(),
        }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                self.error(format!(
                    "needs {n} more bytes but the file ends after {}",
                    self.bytes.len() - self.pos
                ))
            })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub fn int(&mut self) -> Result<i64> {
        let control = self.take(1)?[0];
        let len = (control & 0x0f) as usize;
        if len > 8 {
            self.pos -= 1;
            return Err(self.error(format!("integer control byte {control:#04x} is invalid")));
        }
        let mut magnitude: u64 = 0;
        for (i, b) in self.take(len)?.iter().enumerate() {
            magnitude |= (*b as u64) << (8 * i);
        }
        let negative = control & 0x80 != 0;
        let value = i64::try_from(magnitude).map_err(|_| self.error("integer overflows i64"))?;
        Ok(if negative { -value } else { value })
    }

    /// A non-negative integer used as a count or index, bounded by `max`.
    pub fn count(&mut self, max: usize, what: &str) -> Result<usize> {
        let v = self.int()?;
        usize::try_from(v)
            .ok()
            .filter(|&n| n <= max)
            .ok_or_else(|| self.error(format!("{what} is {v}, expected 0..={max}")))
    }

    pub fn expect_int(&mut self, expected: i64, what: &str) -> Result<()> {
        let start = self.pos;
        let v = self.int()?;
        if v != expected {
            self.pos = start;
            return Err(self.error(format!("{what} is {v}, expected {expected}")));
        }
        Ok(())
    }

    pub fn float(&mut self) -> Result<f64> {
        let mantissa = self.int()?;
        let exponent = self.int()?;
        Ok(match exponent {
            EXP_INF => f64::INFINITY,
            EXP_NINF => f64::NEG_INFINITY,
            EXP_NAN => f64::NAN,
            e if (-2000..2000).contains(&e) => mantissa as f64 * 2f64.powi(e as i32),
            e => return Err(self.error(format!("float exponent {e} is out of range"))),
        })
    }

    /// A float deserialized into a C++ `float`: dlib converts the mantissa to
    /// `float` before scaling, so round the same way.
    pub fn float32(&mut self) -> Result<f32> {
        let mantissa = self.int()?;
        let exponent = self.int()?;
        Ok(match exponent {
            EXP_INF => f32::INFINITY,
            EXP_NINF => f32::NEG_INFINITY,
            EXP_NAN => f32::NAN,
            e if (-2000..2000).contains(&e) => {
                (mantissa as f32 as f64 * 2f64.powi(e as i32)) as f32
            }
            e => return Err(self.error(format!("float exponent {e} is out of range"))),
        })
    }

    pub fn string(&mut self) -> Result<String> {
        let len = self.count(1 << 20, "string length")?;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.error("string is not UTF-8"))
    }

    pub fn expect_string(&mut self, expected: &str) -> Result<()> {
        let start = self.pos;
        let s = self.string()?;
        if s != expected {
            self.pos = start;
            return Err(self.error(format!("found layer or tag {s:?}, expected {expected:?}")));
        }
        Ok(())
    }

    /// A `dlib::matrix<float>` (rows, cols possibly negated, then row-major floats).
    pub fn float_matrix(&mut self) -> Result<(usize, usize, Vec<f32>)> {
        let nr = self.int()?.unsigned_abs() as usize;
        let nc = self.int()?.unsigned_abs() as usize;
        let n = nr
            .checked_mul(nc)
            .filter(|&n| n <= self.bytes.len())
            .ok_or_else(|| self.error(format!("matrix of {nr}x{nc} cannot fit in the file")))?;
        let mut data = Vec::with_capacity(n);
        for _ in 0..n {
            data.push(self.float32()?);
        }
        Ok((nr, nc, data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8]) -> Reader<'_> {
        Reader::new(bytes, Path::new("test.dat"))
    }

    #[test]
    fn integers_use_sign_bit_and_little_endian_magnitude() {
        let mut r = reader(&[0x01, 0x05, 0x82, 0x34, 0x12, 0x00]);
        assert_eq!(r.int().unwrap(), 5);
        assert_eq!(r.int().unwrap(), -0x1234);
        assert_eq!(r.int().unwrap(), 0);
        assert!(r.at_end());
    }

    #[test]
    fn floats_are_mantissa_times_two_to_the_exponent() {
        // 3 * 2^-1 = 1.5, then -1 * 2^2 = -4
        let mut r = reader(&[0x01, 3, 0x81, 1, 0x81, 1, 0x01, 2]);
        assert_eq!(r.float().unwrap(), 1.5);
        assert_eq!(r.float32().unwrap(), -4.0);
    }

    #[test]
    fn truncation_reports_the_offset() {
        let mut r = reader(&[0x02, 0x01]);
        match r.int() {
            Err(IdentityError::ModelFormat { offset, reason, .. }) => {
                assert_eq!(offset, 1);
                assert!(reason.contains("needs 2 more bytes"), "{reason}");
            }
            other => panic!("expected a format error, got {other:?}"),
        }
    }

    #[test]
    fn strings_are_length_prefixed() {
        let mut r = reader(&[0x01, 2, b'h', b'i', 0x01, 9, b'x']);
        assert_eq!(r.string().unwrap(), "hi");
        assert!(r.string().is_err());
    }
}
