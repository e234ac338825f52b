//! A small CBOR reader and a canonical CBOR writer, just enough for p2panda
//! operations (and later the replication messages).
//!
//! The reader is lenient where upstream's ciborium is (non-minimal argument
//! widths, indefinite-length arrays and maps, any float width) and never
//! allocates more than the input can hold. The writer produces the one
//! canonical form p2panda clients produce: definite lengths, shortest
//! arguments and the shortest float width that round-trips.

use half::f16;

/// A CBOR data item header, after skipping nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Header {
    Unsigned(u64),
    /// The argument `n` of major type 1; the value is `-1 - n`.
    Negative(u64),
    Bytes(Option<u64>),
    Text(Option<u64>),
    Array(Option<u64>),
    Map(Option<u64>),
    Tag(u64),
    Simple(u8),
    Float(f64),
    Break,
}

impl Header {
    /// Short name of the item's type, used in error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Header::Unsigned(_) | Header::Negative(_) => "integer",
            Header::Bytes(_) => "byte string",
            Header::Text(_) => "text string",
            Header::Array(_) => "array",
            Header::Map(_) => "map",
            Header::Tag(_) => "tag",
            Header::Simple(20 | 21) => "bool",
            Header::Simple(22) => "null",
            Header::Simple(23) => "undefined",
            Header::Simple(_) => "simple value",
            Header::Float(_) => "float",
            Header::Break => "break",
        }
    }
}

/// Why CBOR bytes could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CborError {
    #[error("unexpected end of input at byte {0}")]
    UnexpectedEnd(usize),
    #[error("invalid cbor encoding at byte {0}")]
    Invalid(usize),
    #[error("invalid UTF-8 in text string at byte {0}")]
    InvalidUtf8(usize),
    #[error("indefinite-length strings are not supported (byte {0})")]
    IndefiniteString(usize),
}

/// Reads CBOR items from a byte slice.
pub struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    /// Current offset into the input.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.input.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, CborError> {
        let b = *self
            .input
            .get(self.pos)
            .ok_or(CborError::UnexpectedEnd(self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], CborError> {
        let n = usize::try_from(n).map_err(|_| CborError::UnexpectedEnd(self.pos))?;
        if n > self.remaining() {
            return Err(CborError::UnexpectedEnd(self.input.len()));
        }
        let out = &self.input[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn argument(&mut self, info: u8, start: usize) -> Result<Option<u64>, CborError> {
        Ok(Some(match info {
            0..=23 => u64::from(info),
            24 => u64::from(self.byte()?),
            25 => u64::from(u16::from_be_bytes(self.array()?)),
            26 => u64::from(u32::from_be_bytes(self.array()?)),
            27 => u64::from_be_bytes(self.array()?),
            31 => return Ok(None),
            _ => return Err(CborError::Invalid(start)),
        }))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CborError> {
        let bytes = self.take(N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    /// Peeks at the next header without consuming it.
    pub fn peek(&mut self) -> Result<Header, CborError> {
        let pos = self.pos;
        let h = self.header();
        self.pos = pos;
        h
    }

    /// Reads the next header. Strings are not consumed: call [`Self::bytes`]
    /// or [`Self::text`] with the returned length.
    pub fn header(&mut self) -> Result<Header, CborError> {
        let start = self.pos;
        let initial = self.byte()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        if major == 7 {
            return Ok(match info {
                0..=19 => Header::Simple(info),
                20..=23 => Header::Simple(info),
                24 => {
                    let v = self.byte()?;
                    // Two-byte simple values below 32 are not well-formed.
                    if v < 32 {
                        return Err(CborError::Invalid(start));
                    }
                    Header::Simple(v)
                }
                25 => Header::Float(f16::from_bits(u16::from_be_bytes(self.array()?)).to_f64()),
                26 => Header::Float(f64::from(f32::from_bits(u32::from_be_bytes(self.array()?)))),
                27 => Header::Float(f64::from_bits(u64::from_be_bytes(self.array()?))),
                31 => Header::Break,
                _ => return Err(CborError::Invalid(start)),
            });
        }
        let arg = self.argument(info, start)?;
        let definite = |arg: Option<u64>| arg.ok_or(CborError::Invalid(start));
        Ok(match major {
            0 => Header::Unsigned(definite(arg)?),
            1 => Header::Negative(definite(arg)?),
            2 => Header::Bytes(arg),
            3 => Header::Text(arg),
            4 => Header::Array(arg),
            5 => Header::Map(arg),
            _ => Header::Tag(definite(arg)?),
        })
    }

    /// Reads the next header, skipping any tags in front of it.
    pub fn header_skip_tags(&mut self) -> Result<Header, CborError> {
        loop {
            match self.header()? {
                Header::Tag(_) => continue,
                h => return Ok(h),
            }
        }
    }

    /// The content of a byte string whose header was just read.
    pub fn bytes(&mut self, len: Option<u64>) -> Result<&'a [u8], CborError> {
        match len {
            Some(n) => self.take(n),
            None => Err(CborError::IndefiniteString(self.pos)),
        }
    }

    /// The content of a text string whose header was just read.
    pub fn text(&mut self, len: Option<u64>) -> Result<&'a str, CborError> {
        let start = self.pos;
        let bytes = self.bytes(len)?;
        std::str::from_utf8(bytes).map_err(|_| CborError::InvalidUtf8(start))
    }

    /// Whether an array or map of length `len` has another item: for
    /// definite lengths compare `read` with the length, for indefinite ones
    /// consume the break if it is next.
    pub fn has_next(&mut self, len: Option<u64>, read: u64) -> Result<bool, CborError> {
        match len {
            Some(n) => Ok(read < n),
            None => {
                if self.input.get(self.pos) == Some(&0xff) {
                    self.pos += 1;
                    Ok(false)
                } else if self.pos >= self.input.len() {
                    Err(CborError::UnexpectedEnd(self.pos))
                } else {
                    Ok(true)
                }
            }
        }
    }
}

/// Writes canonical CBOR.
#[derive(Default)]
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }

    fn head(&mut self, major: u8, n: u64) {
        let m = major << 5;
        if n < 24 {
            self.out.push(m | n as u8);
        } else if n <= u64::from(u8::MAX) {
            self.out.extend_from_slice(&[m | 24, n as u8]);
        } else if n <= u64::from(u16::MAX) {
            self.out.push(m | 25);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= u64::from(u32::MAX) {
            self.out.push(m | 26);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.out.push(m | 27);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
    }

    pub fn unsigned(&mut self, n: u64) {
        self.head(0, n);
    }

    pub fn int(&mut self, n: i64) {
        if n >= 0 {
            self.head(0, n as u64);
        } else {
            // -1 - n without overflow for i64::MIN.
            self.head(1, !(n as u64));
        }
    }

    pub fn bool(&mut self, b: bool) {
        self.out.push(if b { 0xf5 } else { 0xf4 });
    }

    pub fn null(&mut self) {
        self.out.push(0xf6);
    }

    /// The shortest of f16, f32 and f64 that holds `x` exactly (NaN as f16).
    pub fn float(&mut self, x: f64) {
        if x.is_nan() {
            self.out.extend_from_slice(&[0xf9, 0x7e, 0x00]);
            return;
        }
        let h = f16::from_f64(x);
        if h.to_f64().to_bits() == x.to_bits() {
            self.out.push(0xf9);
            self.out.extend_from_slice(&h.to_bits().to_be_bytes());
            return;
        }
        let s = x as f32;
        if f64::from(s).to_bits() == x.to_bits() {
            self.out.push(0xfa);
            self.out.extend_from_slice(&s.to_bits().to_be_bytes());
            return;
        }
        self.out.push(0xfb);
        self.out.extend_from_slice(&x.to_bits().to_be_bytes());
    }

    pub fn bytes(&mut self, b: &[u8]) {
        self.head(2, b.len() as u64);
        self.out.extend_from_slice(b);
    }

    pub fn text(&mut self, s: &str) {
        self.head(3, s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }

    pub fn array(&mut self, len: usize) {
        self.head(4, len as u64);
    }

    pub fn map(&mut self, len: usize) {
        self.head(5, len as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float_hex(x: f64) -> String {
        let mut w = Writer::new();
        w.float(x);
        hex::encode(w.into_bytes())
    }

    #[test]
    fn shortest_floats() {
        assert_eq!(float_hex(1.0), "f93c00");
        assert_eq!(float_hex(3.5), "f94300");
        assert_eq!(float_hex(65505.0), "fa477fe100");
        assert_eq!(float_hex(0.1), "fb3fb999999999999a");
        assert_eq!(float_hex(-0.0), "f98000");
        assert_eq!(float_hex(f64::NAN), "f97e00");
        assert_eq!(float_hex(f64::INFINITY), "f97c00");
        assert_eq!(float_hex(f64::NEG_INFINITY), "f9fc00");
    }

    #[test]
    fn ints() {
        let mut w = Writer::new();
        w.int(i64::MIN);
        w.int(-1);
        w.int(23);
        w.int(24);
        assert_eq!(
            hex::encode(w.into_bytes()),
            "3b7fffffffffffffff201718 18".replace(' ', "")
        );
    }
}
