//! What a file is, from its first bytes: the upload's name and declared type are never trusted.

/// The kinds of file an upload turns out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    Jpeg,
    Png,
    WebP,
    Gif,
    Heif,
    Avif,
    JpegXl,
    Tiff,
    Bmp,
    Icon,
    Svg,
    Html,
    Pdf,
    /// An ISO media file that is neither HEIF nor AVIF (MP4, MOV...).
    Video,
    Empty,
    Unknown,
}

impl Sniffed {
    /// A short human name used in messages ("HEIC/HEIF", "GIF"...).
    pub fn name(&self) -> &'static str {
        match self {
            Sniffed::Jpeg => "JPEG",
            Sniffed::Png => "PNG",
            Sniffed::WebP => "WebP",
            Sniffed::Gif => "GIF",
            Sniffed::Heif => "HEIC/HEIF",
            Sniffed::Avif => "AVIF",
            Sniffed::JpegXl => "JPEG XL",
            Sniffed::Tiff => "TIFF",
            Sniffed::Bmp => "BMP",
            Sniffed::Icon => "ICO",
            Sniffed::Svg => "SVG",
            Sniffed::Html => "HTML",
            Sniffed::Pdf => "PDF",
            Sniffed::Video => "video",
            Sniffed::Empty => "empty file",
            Sniffed::Unknown => "unknown",
        }
    }
}

/// Identify `bytes` by their signature.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    if bytes.is_empty() {
        return Sniffed::Empty;
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Sniffed::Jpeg;
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Sniffed::Png;
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Sniffed::WebP;
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Sniffed::Gif;
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        return iso_media(bytes);
    }
    if bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n") {
        return Sniffed::JpegXl;
    }
    if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        return Sniffed::Tiff;
    }
    if bytes.starts_with(b"BM") {
        return Sniffed::Bmp;
    }
    if bytes.starts_with(&[0, 0, 1, 0]) {
        return Sniffed::Icon;
    }
    if bytes.starts_with(b"%PDF") {
        return Sniffed::Pdf;
    }
    markup(bytes)
}

/// HEIF and AVIF are ISO base media files: the major brand, or a compatible brand, names them.
fn iso_media(bytes: &[u8]) -> Sniffed {
    let box_len = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let end = box_len.clamp(12, 256).min(bytes.len());
    let mut brands = vec![&bytes[8..12]];
    // Compatible brands follow the major brand and its 4-byte minor version.
    let mut at = 16;
    while at + 4 <= end {
        brands.push(&bytes[at..at + 4]);
        at += 4;
    }
    let is = |names: &[&[u8; 4]]| brands.iter().any(|b| names.iter().any(|n| *b == &n[..]));
    if is(&[b"avif", b"avis"]) {
        Sniffed::Avif
    } else if is(&[
        b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1",
    ]) {
        Sniffed::Heif
    } else {
        Sniffed::Video
    }
}

/// Text that looks like SVG or HTML, after an optional BOM and whitespace.
fn markup(bytes: &[u8]) -> Sniffed {
    let head = &bytes[..bytes.len().min(1024)];
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let start = head
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(head.len());
    let text = String::from_utf8_lossy(&head[start..]).to_ascii_lowercase();
    if !text.starts_with('<') {
        return Sniffed::Unknown;
    }
    if text.contains("<svg") {
        Sniffed::Svg
    } else if text.starts_with("<!doctype html")
        || [
            "<html", "<head", "<body", "<meta", "<title", "<script", "<div", "<p>",
        ]
        .iter()
        .any(|tag| text.contains(tag))
    {
        Sniffed::Html
    } else {
        Sniffed::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        assert_eq!(sniff(b""), Sniffed::Empty);
        assert_eq!(sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"), Sniffed::Jpeg);
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Sniffed::Png);
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8 "), Sniffed::WebP);
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Sniffed::Gif);
        assert_eq!(sniff(b"\0\0\0\x18ftypheic\0\0\0\0mif1heic"), Sniffed::Heif);
        assert_eq!(
            sniff(b"\0\0\0\x1cftypmif1\0\0\0\0mif1avifmiaf"),
            Sniffed::Avif
        );
        assert_eq!(sniff(b"\0\0\0\x18ftypisom\0\0\0\0isomavc1"), Sniffed::Video);
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Sniffed::Tiff);
        assert_eq!(
            sniff(b"\xEF\xBB\xBF  <?xml version=\"1.0\"?><svg xmlns="),
            Sniffed::Svg
        );
        assert_eq!(
            sniff(b"<!DOCTYPE html><html><body>404</body></html>"),
            Sniffed::Html
        );
        assert_eq!(sniff(b"\n<html lang=en>"), Sniffed::Html);
        assert_eq!(sniff(b"just some text"), Sniffed::Unknown);
        assert_eq!(sniff(&[0x00]), Sniffed::Unknown);
        // A short ftyp box must not read past the buffer.
        assert_eq!(sniff(b"\xff\xff\xff\xffftypheic"), Sniffed::Heif);
    }
}
