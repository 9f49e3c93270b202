//! PEM blocks, a minimal DER reader and the certificate checks KIC gets from Go's `crypto/tls.X509KeyPair`
//! and `crypto/x509` (key pair match; CA certificates: one block, basic constraint CA, not expired).

use base64::Engine;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// One PEM block: its type and its decoded bytes.
pub(crate) struct Block {
    pub label: String,
    pub der: Vec<u8>,
}

/// Decodes the first PEM block in `data` (Go's `pem.Decode`); returns it and the rest of the input.
pub(crate) fn pem_decode(mut data: &[u8]) -> Option<(Block, &[u8])> {
    loop {
        let start = find(data, b"-----BEGIN ")?;
        if start > 0 && data[start - 1] != b'\n' {
            data = &data[start + 11..];
            continue;
        }
        let after = &data[start + 11..];
        let type_end = find(after, b"-----")?;
        let label = String::from_utf8_lossy(&after[..type_end]).to_string();
        let body = &after[type_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let Some(end) = find(body, end_marker.as_bytes()) else {
            data = body;
            continue;
        };
        let rest = &body[end + end_marker.len()..];
        // Skip RFC 1421 headers (lines holding a colon) before the base64 payload.
        let text = String::from_utf8_lossy(&body[..end]);
        let payload: String =
            text.lines().filter(|l| !l.contains(':')).flat_map(|l| l.chars()).filter(|c| !c.is_whitespace()).collect();
        match base64::engine::general_purpose::STANDARD.decode(payload.as_bytes()) {
            Ok(der) => return Some((Block { label, der }, rest)),
            Err(_) => data = rest,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// All PEM blocks of `data`, in order.
pub(crate) fn pem_blocks(mut data: &[u8]) -> Vec<Block> {
    let mut blocks = Vec::new();
    while let Some((block, rest)) = pem_decode(data) {
        blocks.push(block);
        data = rest;
    }
    blocks
}

/// Encodes DER bytes as one PEM block with 64-character lines and a trailing newline (Go's `pem.EncodeToMemory`).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A DER element: tag and content.
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
}

fn read_tlv(data: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&tag, rest) = data.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((Tlv { tag, content: &rest[..len] }, &rest[len..]))
}

/// The elements of a SEQUENCE.
fn sequence(data: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let (seq, _) = read_tlv(data)?;
    if seq.tag != 0x30 {
        return None;
    }
    let mut items = Vec::new();
    let mut rest = seq.content;
    while !rest.is_empty() {
        let (tlv, r) = read_tlv(rest)?;
        items.push(tlv);
        rest = r;
    }
    Some(items)
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|x| **x == 0).count();
    &b[n..]
}

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// A parsed private key, reduced to what is needed to match it with a certificate.
enum PrivateKey {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { public: Option<Vec<u8>> },
    Ed25519,
}

fn parse_pkcs1(der: &[u8]) -> Option<PrivateKey> {
    let items = sequence(der)?;
    if items.len() < 9 || items.iter().take(9).any(|t| t.tag != 0x02) {
        return None;
    }
    Some(PrivateKey::Rsa { n: strip_zeros(items[1].content).to_vec(), e: strip_zeros(items[2].content).to_vec() })
}

fn parse_sec1(der: &[u8]) -> Option<PrivateKey> {
    let items = sequence(der)?;
    if items.len() < 2 || items[0].tag != 0x02 || items[1].tag != 0x04 {
        return None;
    }
    let public = items
        .iter()
        .find(|t| t.tag == 0xa1)
        .and_then(|t| read_tlv(t.content))
        .and_then(|(bits, _)| (bits.tag == 0x03 && !bits.content.is_empty()).then(|| bits.content[1..].to_vec()));
    Some(PrivateKey::Ec { public })
}

fn parse_pkcs8(der: &[u8]) -> Option<PrivateKey> {
    let items = sequence(der)?;
    if items.len() < 3 || items[0].tag != 0x02 || items[1].tag != 0x30 || items[2].tag != 0x04 {
        return None;
    }
    let (oid, _) = read_tlv(items[1].content)?;
    if oid.tag != 0x06 {
        return None;
    }
    match oid.content {
        OID_RSA => parse_pkcs1(items[2].content),
        OID_EC => parse_sec1(items[2].content),
        OID_ED25519 => Some(PrivateKey::Ed25519),
        _ => None,
    }
}

/// Go's `tls.X509KeyPair` checks: a CERTIFICATE block, a private key block, a parseable certificate, a parseable
/// key of the same type whose public part matches the certificate.
pub(crate) fn check_key_pair(cert_pem: &[u8], key_pem: &[u8]) -> Result<(), String> {
    let cert_der = pem_blocks(cert_pem)
        .into_iter()
        .find(|b| b.label == "CERTIFICATE")
        .ok_or_else(|| "tls: failed to find any PEM data in certificate input".to_string())?
        .der;
    let key_der = pem_blocks(key_pem)
        .into_iter()
        .find(|b| b.label == "PRIVATE KEY" || b.label.ends_with(" PRIVATE KEY"))
        .ok_or_else(|| "tls: failed to find any PEM data in key input".to_string())?
        .der;
    let (_, cert) = X509Certificate::from_der(&cert_der).map_err(|e| format!("x509: {e}"))?;
    let key = parse_pkcs1(&key_der)
        .or_else(|| parse_pkcs8(&key_der))
        .or_else(|| parse_sec1(&key_der))
        .ok_or_else(|| "tls: failed to parse private key".to_string())?;
    let spki = cert.public_key();
    let mismatch = || Err("tls: private key does not match public key".to_string());
    match (spki.parsed(), key) {
        (Ok(PublicKey::RSA(rsa)), PrivateKey::Rsa { n, e }) => {
            if strip_zeros(rsa.modulus) == n.as_slice() && strip_zeros(rsa.exponent) == e.as_slice() {
                Ok(())
            } else {
                mismatch()
            }
        }
        (Ok(PublicKey::EC(point)), PrivateKey::Ec { public }) => match public {
            Some(public) if public.as_slice() != point.data() => mismatch(),
            _ => Ok(()),
        },
        (_, PrivateKey::Ed25519) if spki.algorithm.algorithm.as_bytes() == OID_ED25519 => Ok(()),
        (Ok(PublicKey::RSA(_)) | Ok(PublicKey::EC(_)), _) => {
            Err("tls: private key type does not match public key type".into())
        }
        _ if spki.algorithm.algorithm.as_bytes() == OID_ED25519 => {
            Err("tls: private key type does not match public key type".into())
        }
        _ => Err("tls: unknown public key algorithm".to_string()),
    }
}

/// KIC's `toKongCACertificate` checks: exactly one CERTIFICATE block, a CA, not expired. Returns the block
/// re-encoded alone.
pub(crate) fn check_ca_cert(pem: &[u8], now_unix: i64) -> Result<String, String> {
    let mut rest = trim_ascii(pem);
    let mut blocks = Vec::new();
    while !rest.is_empty() {
        let Some((block, r)) = pem_decode(rest) else { return Err("invalid PEM block".into()) };
        if block.label != "CERTIFICATE" {
            return Err("invalid PEM block type".into());
        }
        blocks.push(block.der);
        rest = trim_ascii(r);
    }
    match blocks.len() {
        0 => return Err("invalid PEM block".into()),
        1 => {}
        _ => return Err("multiple PEM certificates found".into()),
    }
    let (_, cert) = X509Certificate::from_der(&blocks[0]).map_err(|_| "failed to parse certificate".to_string())?;
    if !cert.is_ca() {
        return Err("certificate is missing the 'CA' basic constraint".into());
    }
    if now_unix > cert.validity().not_after.timestamp() {
        return Err("expired".into());
    }
    Ok(pem_encode("CERTIFICATE", &blocks[0]))
}

/// Trims ASCII whitespace at both ends (Go's `bytes.TrimSpace` for ASCII input).
pub(crate) fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &b[start..end.max(start)]
}
