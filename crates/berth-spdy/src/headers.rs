//! Header blocks: a count and length-prefixed names and values, compressed with one zlib
//! stream per direction of a connection, primed with the SPDY dictionary and flushed
//! (`Z_SYNC_FLUSH`) at the end of every block.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::dictionary::HEADER_DICTIONARY;
use crate::frame::Headers;
use crate::{Error, Result};

/// Largest decompressed header block accepted: a bound on what one frame can make us
/// allocate.
const MAX_BLOCK: usize = 256 * 1024;

/// The compressing side (what this end sends).
pub(crate) struct Compressor {
    z: Compress,
}

impl Compressor {
    pub(crate) fn new() -> Result<Compressor> {
        let mut z = Compress::new(Compression::default(), true);
        z.set_dictionary(HEADER_DICTIONARY)
            .map_err(|e| Error::Headers(format!("priming the compressor: {e}")))?;
        Ok(Compressor { z })
    }

    pub(crate) fn compress(&mut self, headers: &Headers) -> Result<Vec<u8>> {
        let plain = encode_block(headers)?;
        let mut out = Vec::with_capacity(plain.len() / 2 + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(1024);
            }
            let before = self.z.total_in();
            self.z
                .compress_vec(&plain[consumed..], &mut out, FlushCompress::Sync)
                .map_err(|e| Error::Headers(format!("compressing: {e}")))?;
            consumed += usize::try_from(self.z.total_in() - before).unwrap_or(0);
            // A sync flush is complete once all input is in and the output was not full.
            if consumed == plain.len() && out.len() < out.capacity() {
                return Ok(out);
            }
        }
    }
}

/// The decompressing side (what the peer sends).
pub(crate) struct Decompressor {
    z: Decompress,
}

impl Decompressor {
    pub(crate) fn new() -> Decompressor {
        Decompressor {
            z: Decompress::new(true),
        }
    }

    pub(crate) fn decompress(&mut self, block: &[u8]) -> Result<Headers> {
        let mut out = Vec::with_capacity(block.len() * 4 + 64);
        let mut consumed = 0;
        loop {
            if out.capacity() - out.len() < 256 {
                out.reserve(4096);
            }
            let before = self.z.total_in();
            let status =
                match self
                    .z
                    .decompress_vec(&block[consumed..], &mut out, FlushDecompress::Sync)
                {
                    Ok(s) => s,
                    Err(e) if e.needs_dictionary().is_some() => {
                        consumed += usize::try_from(self.z.total_in() - before).unwrap_or(0);
                        self.z
                            .set_dictionary(HEADER_DICTIONARY)
                            .map_err(|e| Error::Headers(format!("dictionary: {e}")))?;
                        continue;
                    }
                    Err(e) => return Err(Error::Headers(format!("decompressing: {e}"))),
                };
            let used = usize::try_from(self.z.total_in() - before).unwrap_or(0);
            consumed += used;
            if out.len() > MAX_BLOCK {
                return Err(Error::Headers(format!(
                    "a header block over {MAX_BLOCK} bytes"
                )));
            }
            let starved = out.len() < out.capacity();
            if status == Status::StreamEnd || (consumed == block.len() && starved) {
                return decode_block(&out);
            }
            if status == Status::BufError && used == 0 && starved {
                return Err(Error::Headers("a header block zlib cannot continue".into()));
            }
        }
    }
}

fn encode_block(headers: &Headers) -> Result<Vec<u8>> {
    let len = |n: usize| {
        u32::try_from(n)
            .map(u32::to_be_bytes)
            .map_err(|_| Error::Headers("a header too long".into()))
    };
    let mut v = Vec::new();
    v.extend_from_slice(&len(headers.len())?);
    for (name, value) in headers {
        // Names go out lower-case: the Go peer flags anything else.
        let name = name.to_ascii_lowercase();
        v.extend_from_slice(&len(name.len())?);
        v.extend_from_slice(name.as_bytes());
        v.extend_from_slice(&len(value.len())?);
        v.extend_from_slice(value.as_bytes());
    }
    Ok(v)
}

fn decode_block(mut b: &[u8]) -> Result<Headers> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8]> {
        if b.len() < n {
            return Err(Error::Headers("a truncated header block".into()));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    fn number(b: &mut &[u8]) -> Result<usize> {
        let raw = take(b, 4)?;
        let n = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
        usize::try_from(n).map_err(|_| Error::Headers("a header length out of range".into()))
    }
    fn text(b: &mut &[u8]) -> Result<String> {
        let n = number(b)?;
        String::from_utf8(take(b, n)?.to_vec())
            .map_err(|_| Error::Headers("a header that is not UTF-8".into()))
    }
    let count = number(&mut b)?;
    // Every pair takes at least 8 bytes: a count beyond that is a lie, not an allocation.
    if count > b.len() / 8 {
        return Err(Error::Headers(format!("a header count of {count}")));
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let name = text(&mut b)?.to_ascii_lowercase();
        let value = text(&mut b)?;
        // Several values of one name travel NUL-separated in one value.
        for v in value.split('\0') {
            headers.push((name.clone(), v.to_string()));
        }
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn blocks_round_trip_through_one_stream_per_direction() {
        let mut c = Compressor::new().unwrap();
        let mut d = Decompressor::new();
        let blocks = [
            h(&[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0"),
            ]),
            h(&[]),
            h(&[("StreamType", "data"), ("port", "8080"), ("requestid", "0")]),
        ];
        for b in &blocks {
            let wire = c.compress(b).unwrap();
            let back = d.decompress(&wire).unwrap();
            let lower: Headers = b
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            assert_eq!(back, lower);
        }
    }

    #[test]
    fn first_block_carries_the_dictionary_id() {
        let mut c = Compressor::new().unwrap();
        let wire = c.compress(&h(&[("a", "b")])).unwrap();
        // zlib header with FDICT set, then the dictionary's Adler-32.
        assert_eq!(wire[1] & 0x20, 0x20, "{wire:02x?}");
        let adler = u32::from_be_bytes([wire[2], wire[3], wire[4], wire[5]]);
        let mut a = 1u32;
        let mut b = 0u32;
        for byte in HEADER_DICTIONARY {
            a = (a + u32::from(*byte)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(adler, (b << 16) | a);
    }

    #[test]
    fn nul_separated_values_become_several_headers() {
        let mut c = Compressor::new().unwrap();
        let mut d = Decompressor::new();
        let wire = c.compress(&h(&[("x", "a\0b")])).unwrap();
        assert_eq!(d.decompress(&wire).unwrap(), h(&[("x", "a"), ("x", "b")]));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = Decompressor::new();
        assert!(d.decompress(&[0x78, 0xbb, 1, 2, 3, 4, 5, 6, 7]).is_err());
        assert!(decode_block(&[0, 0, 0, 9, 0, 0]).is_err());
        assert!(decode_block(&[0xff, 0xff, 0xff, 0xff]).is_err());
    }
}
