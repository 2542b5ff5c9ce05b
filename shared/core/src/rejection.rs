//! Why a photo was refused: a stable code for machines, a message a customer can act on.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    UnsupportedFormat,
    CorruptImage,
    TooLarge,
    LowResolution,
    Blurry,
    MotionBlur,
    TooDark,
    Overexposed,
    LowContrast,
    Noisy,
    NoFace,
    TooManyFaces,
    TooFewFaces,
    FaceTooSmall,
    FaceCutOff,
    ShadowOnFace,
    NoSubject,
    UploadMismatch,
}

impl RejectionCode {
    pub fn as_str(&self) -> &'static str {
        match self {
            RejectionCode::UnsupportedFormat => "unsupported_format",
            RejectionCode::CorruptImage => "corrupt_image",
            RejectionCode::TooLarge => "too_large",
            RejectionCode::LowResolution => "low_resolution",
            RejectionCode::Blurry => "blurry",
            RejectionCode::MotionBlur => "motion_blur",
            RejectionCode::TooDark => "too_dark",
            RejectionCode::Overexposed => "overexposed",
            RejectionCode::LowContrast => "low_contrast",
            RejectionCode::Noisy => "noisy",
            RejectionCode::NoFace => "no_face",
            RejectionCode::TooManyFaces => "too_many_faces",
            RejectionCode::TooFewFaces => "too_few_faces",
            RejectionCode::FaceTooSmall => "face_too_small",
            RejectionCode::FaceCutOff => "face_cut_off",
            RejectionCode::ShadowOnFace => "shadow_on_face",
            RejectionCode::NoSubject => "no_subject",
            RejectionCode::UploadMismatch => "upload_mismatch",
        }
    }

    /// The default customer-facing message: what is wrong and what to do about it.
    pub fn default_message(&self) -> &'static str {
        match self {
            RejectionCode::UnsupportedFormat => {
                "This file type is not supported: upload a JPEG, PNG or WebP photo."
            }
            RejectionCode::CorruptImage => {
                "The photo could not be read (the file is damaged or incomplete): upload it again."
            }
            RejectionCode::TooLarge => {
                "The photo is too large: upload one under the size limit, e.g. as exported by your phone."
            }
            RejectionCode::LowResolution => {
                "The photo's resolution is too low: use the original photo, not a thumbnail or screenshot."
            }
            RejectionCode::Blurry => {
                "The photo is blurry: hold the phone still or use a sharper photo."
            }
            RejectionCode::MotionBlur => {
                "The photo is smeared by motion: hold the phone still, or ask your subject to stay still."
            }
            RejectionCode::TooDark => {
                "The photo is too dark: take it in daylight or turn on more light."
            }
            RejectionCode::Overexposed => {
                "The photo is overexposed: avoid direct sun or flash on the face."
            }
            RejectionCode::LowContrast => {
                "The photo is washed out: use a photo with clearer light and shadow."
            }
            RejectionCode::Noisy => "The photo is very grainy: use one taken in better light.",
            RejectionCode::NoFace => {
                "No face was found: use a photo where the face is clearly visible and facing the camera."
            }
            RejectionCode::TooManyFaces => {
                "More people than ordered are in the photo: crop it to the people you want, or change the order."
            }
            RejectionCode::TooFewFaces => {
                "Fewer faces than ordered were found: make sure everyone faces the camera."
            }
            RejectionCode::FaceTooSmall => {
                "The face is too small in the photo: move closer or crop the photo around the face."
            }
            RejectionCode::FaceCutOff => {
                "The face is cut off by the edge of the photo: use one with the whole head in view."
            }
            RejectionCode::ShadowOnFace => {
                "A strong shadow falls across the face: use a photo with even light on the face."
            }
            RejectionCode::NoSubject => {
                "No clear subject was found: use a photo where your pet fills a good part of the frame."
            }
            RejectionCode::UploadMismatch => {
                "The uploaded file does not match the order (size or type differs): start a new preview."
            }
        }
    }
}

impl fmt::Display for RejectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectionReason {
    pub code: RejectionCode,
    pub message: String,
}

impl RejectionReason {
    pub fn new(code: RejectionCode) -> Self {
        Self {
            code,
            message: code.default_message().to_owned(),
        }
    }
    pub fn with_message(code: RejectionCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<RejectionCode> for RejectionReason {
    fn from(code: RejectionCode) -> Self {
        Self::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_stable_names() {
        let reason = RejectionReason::new(RejectionCode::FaceCutOff);
        let json = serde_json::to_value(&reason).unwrap();
        assert_eq!(json["code"], "face_cut_off");
        assert_eq!(RejectionCode::FaceCutOff.as_str(), "face_cut_off");
    }
}
