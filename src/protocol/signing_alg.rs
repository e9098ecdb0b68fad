//! JWS signing algorithms Castellan signs with (RFC 7518 §3, RFC 8037 §3.1).

use std::fmt;

/// An algorithm an API may choose for its access tokens, or a client for its ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256: the default, always enabled (OIDC Core §15.1 requires it).
    RS256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// ECDSA on P-256 with SHA-256, the signature as the 64-byte `r || s` (RFC 7518 §3.4).
    ES256,
    /// Ed25519 (RFC 8037). Emitted as `EdDSA`; `Ed25519` (RFC 9864) is accepted on input.
    EdDSA,
}

impl SigningAlg {
    pub const ALL: [Self; 4] = [Self::RS256, Self::PS256, Self::ES256, Self::EdDSA];

    /// The JOSE `alg` value Castellan writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// A configured or requested name; case-insensitive, `Ed25519` naming EdDSA.
    pub fn parse(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|alg| alg.as_str().eq_ignore_ascii_case(name))
            .or_else(|| name.eq_ignore_ascii_case("Ed25519").then_some(Self::EdDSA))
    }

    /// The `alg` of an incoming JWS header, matched exactly (JOSE names are case-sensitive).
    pub fn from_header(alg: &str) -> Option<Self> {
        match alg {
            "RS256" => Some(Self::RS256),
            "PS256" => Some(Self::PS256),
            "ES256" => Some(Self::ES256),
            "EdDSA" | "Ed25519" => Some(Self::EdDSA),
            _ => None,
        }
    }

    /// `RS256, PS256, ES256, EdDSA`, for messages.
    pub fn names() -> String {
        Self::ALL.map(Self::as_str).join(", ")
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::SigningAlg;

    #[test]
    fn names_round_trip_and_ed25519_means_eddsa() {
        for alg in SigningAlg::ALL {
            assert_eq!(SigningAlg::parse(alg.as_str()), Some(alg));
            assert_eq!(SigningAlg::from_header(alg.as_str()), Some(alg));
        }
        assert_eq!(SigningAlg::parse("es256"), Some(SigningAlg::ES256));
        assert_eq!(SigningAlg::parse("Ed25519"), Some(SigningAlg::EdDSA));
        assert_eq!(SigningAlg::from_header("Ed25519"), Some(SigningAlg::EdDSA));
        assert_eq!(
            SigningAlg::from_header("es256"),
            None,
            "header names are exact"
        );
        for refused in ["none", "HS256", "ES384", ""] {
            assert_eq!(SigningAlg::from_header(refused), None);
            assert_eq!(SigningAlg::parse(refused), None);
        }
    }
}
