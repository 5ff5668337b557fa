//! What a job renders with: the model and the frame size, and their wire names.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Model {
    #[serde(rename = "sora-2")]
    Sora2,
    #[serde(rename = "sora-2-pro")]
    Sora2Pro,
}

impl Model {
    pub const ALL: [Model; 2] = [Model::Sora2, Model::Sora2Pro];

    pub fn as_str(self) -> &'static str {
        match self {
            Model::Sora2 => "sora-2",
            Model::Sora2Pro => "sora-2-pro",
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Model {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Model::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| "must be sora-2 or sora-2-pro".to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Size {
    #[serde(rename = "720x1280")]
    Portrait720,
    #[serde(rename = "1280x720")]
    Landscape720,
    #[serde(rename = "1024x1792")]
    PortraitTall,
    #[serde(rename = "1792x1024")]
    LandscapeWide,
}

impl Size {
    pub const ALL: [Size; 4] = [
        Size::Portrait720,
        Size::Landscape720,
        Size::PortraitTall,
        Size::LandscapeWide,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Size::Portrait720 => "720x1280",
            Size::Landscape720 => "1280x720",
            Size::PortraitTall => "1024x1792",
            Size::LandscapeWide => "1792x1024",
        }
    }

    /// The large sizes are priced (and offered) for sora-2-pro only.
    pub fn requires_pro(self) -> bool {
        matches!(self, Size::PortraitTall | Size::LandscapeWide)
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Size::ALL
            .into_iter()
            .find(|z| z.as_str() == s)
            .ok_or_else(|| "must be one of 720x1280, 1280x720, 1024x1792, 1792x1024".to_string())
    }
}
