//! The playing time of an MP4, read from its `moov/mvhd` box while the file streams
//! past, so the download step can record the real duration without a second read.
//!
//! Only top-level box headers are looked at until `moov` arrives; `moov` (a few KiB to
//! a few MiB: the sample tables) is buffered, up to [`MAX_MOOV`], and `mvhd` read from
//! it. `moov` may come before `mdat` (fast-start) or after it: both work, because every
//! other box is skipped by length. Anything unexpected gives `None`, never an error: the
//! duration is informative and the video is stored either way.

/// A larger `moov` is not buffered (the duration stays unknown).
pub const MAX_MOOV: u64 = 16 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct Mp4DurationProbe {
    /// Bytes of the current box header, while it is incomplete.
    header: Vec<u8>,
    /// Payload bytes of the current (non-`moov`) box still to skip.
    skip: u64,
    /// The `moov` payload being collected, and how long it will be.
    moov: Option<(Vec<u8>, usize)>,
    state: Outcome,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum Outcome {
    #[default]
    Scanning,
    Found(f64),
    GaveUp,
}

impl Mp4DurationProbe {
    pub fn new() -> Self {
        Self::default()
    }

    /// The duration in seconds, once `mvhd` has been seen.
    pub fn duration_seconds(&self) -> Option<f64> {
        match self.state {
            Outcome::Found(seconds) => Some(seconds),
            _ => None,
        }
    }

    pub fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() && self.state == Outcome::Scanning {
            if let Some((buffer, wanted)) = &mut self.moov {
                let take = (*wanted - buffer.len()).min(chunk.len());
                buffer.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if buffer.len() == *wanted {
                    self.state = match mvhd_duration(buffer) {
                        Some(seconds) => Outcome::Found(seconds),
                        None => Outcome::GaveUp,
                    };
                    self.moov = None;
                }
            } else if self.skip > 0 {
                let take = self.skip.min(chunk.len() as u64);
                self.skip -= take;
                // `take` is at most chunk.len(), so it fits in usize.
                chunk = &chunk[take as usize..];
            } else {
                // 8 bytes first; once they show a 32-bit size of 1, 8 more (the 64-bit
                // size). Re-reading the need after each take matters when all 16 bytes
                // arrive in one chunk: the first 8 alone are not a whole header.
                let take = (header_len(&self.header) - self.header.len()).min(chunk.len());
                self.header.extend_from_slice(&chunk[..take]);
                chunk = &chunk[take..];
                if self.header.len() == header_len(&self.header) {
                    self.start_box();
                }
            }
        }
    }

    /// A whole box header is in `self.header`: decide what to do with its payload.
    fn start_box(&mut self) {
        let header = std::mem::take(&mut self.header);
        let Some((kind, payload)) = parse_header(&header) else {
            self.state = Outcome::GaveUp;
            return;
        };
        match (kind, payload) {
            (b"moov", Some(len)) if len <= MAX_MOOV => {
                // `len` ≤ MAX_MOOV, so it fits in usize.
                self.moov = Some((Vec::with_capacity(len as usize), len as usize));
                if len == 0 {
                    self.state = Outcome::GaveUp;
                }
            }
            (b"moov", _) => self.state = Outcome::GaveUp,
            (_, Some(len)) => self.skip = len,
            // A box "to the end of the file" that is not moov: moov cannot follow.
            (_, None) => self.state = Outcome::GaveUp,
        }
    }
}

/// How long the box header that starts with `header` is: 16 bytes when its 32-bit size
/// is 1 (a 64-bit `largesize` follows the type), else 8.
fn header_len(header: &[u8]) -> usize {
    if header.get(..4) == Some(&[0, 0, 0, 1]) {
        16
    } else {
        8
    }
}

/// A box header's type and payload length (`None`: the box runs to the end of the file).
/// `header` is 8 bytes, or 16 when the 32-bit size is 1 (a 64-bit size follows the type).
fn parse_header(header: &[u8]) -> Option<(&[u8; 4], Option<u64>)> {
    let size = u32::from_be_bytes(header.get(..4)?.try_into().ok()?);
    let kind: &[u8; 4] = header.get(4..8)?.try_into().ok()?;
    let payload = match size {
        0 => None,
        1 => Some(u64::from_be_bytes(header.get(8..16)?.try_into().ok()?).checked_sub(16)?),
        n => Some(u64::from(n).checked_sub(8)?),
    };
    Some((kind, payload))
}

/// Find `mvhd` among `moov`'s children and turn its duration into seconds.
fn mvhd_duration(moov: &[u8]) -> Option<f64> {
    let mut rest = moov;
    while rest.len() >= 8 {
        let long = rest[..4] == [0, 0, 0, 1];
        let header_len = if long { 16 } else { 8 };
        let (kind, payload) = parse_header(rest.get(..header_len)?)?;
        let payload_len = match payload {
            Some(len) => usize::try_from(len).ok()?,
            None => rest.len() - header_len,
        };
        let body = rest.get(header_len..header_len.checked_add(payload_len)?)?;
        if kind == b"mvhd" {
            return mvhd_body_duration(body);
        }
        rest = &rest[header_len + payload_len..];
    }
    None
}

fn mvhd_body_duration(body: &[u8]) -> Option<f64> {
    let be32 = |at: usize| -> Option<u32> {
        Some(u32::from_be_bytes(body.get(at..at + 4)?.try_into().ok()?))
    };
    // version(1) flags(3), then creation and modification times (4 or 8 bytes each).
    let (timescale, duration, unknown) = match body.first()? {
        0 => (be32(12)?, u64::from(be32(16)?), u64::from(u32::MAX)),
        1 => (
            be32(20)?,
            u64::from_be_bytes(body.get(24..32)?.try_into().ok()?),
            u64::MAX,
        ),
        _ => return None,
    };
    // An all-ones duration means "unknown" (ISO/IEC 14496-12).
    if timescale == 0 || duration == unknown {
        return None;
    }
    // Seconds with millisecond precision, as people read durations.
    let seconds = duration as f64 / f64::from(timescale);
    Some((seconds * 1000.0).round() / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = ((payload.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(payload);
        out
    }

    fn mvhd_v0(timescale: u32, duration: u32) -> Vec<u8> {
        let mut p = vec![0u8; 4 + 8];
        p.extend_from_slice(&timescale.to_be_bytes());
        p.extend_from_slice(&duration.to_be_bytes());
        p.extend_from_slice(&[0u8; 80]);
        boxed(b"mvhd", &p)
    }

    fn mvhd_v1(timescale: u32, duration: u64) -> Vec<u8> {
        let mut p = vec![1u8, 0, 0, 0];
        p.extend_from_slice(&[0u8; 16]);
        p.extend_from_slice(&timescale.to_be_bytes());
        p.extend_from_slice(&duration.to_be_bytes());
        p.extend_from_slice(&[0u8; 80]);
        boxed(b"mvhd", &p)
    }

    fn file(moov_first: bool, mvhd: Vec<u8>) -> Vec<u8> {
        let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2mp41");
        let moov = boxed(b"moov", &[boxed(b"udta", b"xx"), mvhd].concat());
        let mdat = boxed(b"mdat", &vec![7u8; 5000]);
        if moov_first {
            [ftyp, moov, mdat].concat()
        } else {
            [ftyp, mdat, moov].concat()
        }
    }

    fn probe_in_chunks(bytes: &[u8], chunk: usize) -> Option<f64> {
        let mut probe = Mp4DurationProbe::new();
        for piece in bytes.chunks(chunk) {
            probe.feed(piece);
        }
        probe.duration_seconds()
    }

    #[test]
    fn reads_the_duration_wherever_moov_is_and_however_the_bytes_are_cut() {
        for moov_first in [true, false] {
            let bytes = file(moov_first, mvhd_v0(1000, 4000));
            for chunk in [1, 3, 7, 8, 16, 100, 4096, bytes.len()] {
                assert_eq!(
                    probe_in_chunks(&bytes, chunk),
                    Some(4.0),
                    "moov_first={moov_first} chunk={chunk}"
                );
            }
        }
    }

    #[test]
    fn version_1_and_odd_timescales() {
        assert_eq!(
            probe_in_chunks(&file(false, mvhd_v1(90_000, 1_080_000)), 5),
            Some(12.0)
        );
        assert_eq!(
            probe_in_chunks(&file(true, mvhd_v0(600, 2_501)), 64),
            Some(4.168)
        );
    }

    #[test]
    fn a_64_bit_box_size_is_skipped_correctly() {
        let mut mdat = 1u32.to_be_bytes().to_vec();
        mdat.extend_from_slice(b"mdat");
        mdat.extend_from_slice(&(16u64 + 300).to_be_bytes());
        mdat.extend_from_slice(&[9u8; 300]);
        let moov = boxed(b"moov", &mvhd_v0(1000, 8000));
        assert_eq!(probe_in_chunks(&[mdat, moov].concat(), 3), Some(8.0));
    }

    fn large_box(kind: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut out = 1u32.to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(&(16 + payload.len() as u64).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn a_64_bit_box_header_inside_one_big_chunk_is_read() {
        let ftyp = boxed(b"ftyp", b"isom\0\0\x02\0isomiso2mp41");
        let mdat = large_box(b"mdat", &[9u8; 300]);
        let moov = boxed(b"moov", &mvhd_v0(1000, 8000));
        let whole = [ftyp.clone(), mdat.clone(), moov.clone()].concat();
        // The whole file at once, and cuts that put the 16-byte header in one chunk,
        // or split it right after the 32-bit size, the type, or inside the largesize.
        for chunk in [whole.len(), 4096, 64, 24, 16] {
            assert_eq!(probe_in_chunks(&whole, chunk), Some(8.0), "chunk={chunk}");
        }
        let at = ftyp.len();
        for cut in [at + 4, at + 8, at + 12, at + 15] {
            let mut probe = Mp4DurationProbe::new();
            probe.feed(&whole[..cut]);
            probe.feed(&whole[cut..]);
            assert_eq!(probe.duration_seconds(), Some(8.0), "cut at {cut}");
        }
        // A 64-bit moov, and a 64-bit box inside moov, in one chunk.
        let inner = [large_box(b"udta", b"xx"), mvhd_v0(600, 1200)].concat();
        let file = [ftyp, large_box(b"moov", &inner), mdat].concat();
        assert_eq!(probe_in_chunks(&file, file.len()), Some(2.0));
    }

    /// Thousands of seeded random and mangled files, fed in random cuts: no panic, no
    /// runaway buffering.
    #[test]
    fn no_bytes_panic_the_probe() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0xb0c5);
        let good = file(false, mvhd_v1(90_000, 1_080_000));
        let edge_sizes: [u64; 8] = [0, 1, 7, 8, 15, 16, u64::MAX, u64::MAX - 7];
        for round in 0..3000 {
            let mut bytes = match round % 3 {
                0 => (0..rng.random_range(0..200))
                    .map(|_| rng.random())
                    .collect(),
                1 => {
                    let mut b = good.clone();
                    for _ in 0..rng.random_range(1..8) {
                        let at = rng.random_range(0..b.len());
                        b[at] = rng.random();
                    }
                    b
                }
                _ => {
                    // Box headers with edge sizes, 32- and 64-bit, around an mvhd.
                    let size = edge_sizes[rng.random_range(0..edge_sizes.len())];
                    let kind: &[u8; 4] = [b"moov", b"mdat", b"mvhd", b"free"][round % 4];
                    let mut b = 1u32.to_be_bytes().to_vec();
                    b.extend_from_slice(kind);
                    b.extend_from_slice(&size.to_be_bytes());
                    b.extend_from_slice(&(size as u32).to_be_bytes());
                    b.extend_from_slice(kind);
                    b.extend_from_slice(&mvhd_v1(rng.random(), rng.random()));
                    b.extend_from_slice(&mvhd_v0(rng.random(), rng.random()));
                    b
                }
            };
            bytes.truncate(rng.random_range(0..=bytes.len()));
            let mut probe = Mp4DurationProbe::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = rng.random_range(1..=rest.len());
                probe.feed(&rest[..n]);
                rest = &rest[n..];
                assert!(probe
                    .moov
                    .as_ref()
                    .is_none_or(|(b, _)| b.len() as u64 <= MAX_MOOV));
            }
            if let Some(d) = probe.duration_seconds() {
                assert!(d.is_finite() && d >= 0.0, "{d}");
            }
            // The moov parser on its own, too.
            let _ = mvhd_duration(&bytes);
        }
    }

    #[test]
    fn unknown_or_missing_durations_are_none() {
        assert_eq!(
            probe_in_chunks(&file(true, mvhd_v0(1000, u32::MAX)), 9),
            None
        );
        assert_eq!(probe_in_chunks(&file(true, mvhd_v0(0, 10)), 9), None);
        assert_eq!(probe_in_chunks(&file(true, boxed(b"trak", b"")), 9), None);
        assert_eq!(probe_in_chunks(b"not an mp4 at all, just text", 4), None);
        assert_eq!(probe_in_chunks(&[], 4), None);
        // Truncated inside moov.
        let bytes = file(true, mvhd_v0(1000, 4000));
        assert_eq!(probe_in_chunks(&bytes[..60], 4), None);
    }

    #[test]
    fn an_oversized_moov_is_not_buffered() {
        let mut header = ((MAX_MOOV + 9) as u32).to_be_bytes().to_vec();
        header.extend_from_slice(b"moov");
        let mut probe = Mp4DurationProbe::new();
        probe.feed(&header);
        probe.feed(&[0u8; 1024]);
        assert!(probe.moov.is_none());
        assert_eq!(probe.duration_seconds(), None);
    }
}
