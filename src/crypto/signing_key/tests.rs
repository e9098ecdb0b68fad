use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
};

use super::*;

fn pem_of(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec()))
}

#[test]
fn every_algorithm_round_trips_through_pkcs8_and_keeps_its_kid() {
    for alg in SigningAlg::ALL {
        let key = SigningKey::generate(alg, KeyBits::Rsa2048).unwrap();
        let again = SigningKey::from_der(&key.to_pkcs8().unwrap(), alg).unwrap();
        assert_eq!(key.kid(), again.kid(), "{alg}");
        assert_eq!(again.alg(), alg);
        assert_eq!(key.public_jwk().alg, alg.as_str());
        assert_eq!(key.public_jwk().use_, "sig");
    }
    let rsa = SigningKey::generate(SigningAlg::RS256, KeyBits::Rsa2048).unwrap();
    assert_eq!(rsa.bits(), 2048);
    assert_eq!(rsa.public_jwk().e.as_deref(), Some("AQAB"));
    let ec = SigningKey::generate(SigningAlg::ES256, KeyBits::Rsa2048).unwrap();
    let jwk = ec.public_jwk();
    assert_eq!((jwk.kty, jwk.crv), ("EC", Some("P-256")));
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(jwk.x.as_ref().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(jwk.y.as_ref().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert!(jwk.n.is_none());
    let ed = SigningKey::generate(SigningAlg::EdDSA, KeyBits::Rsa2048).unwrap();
    let jwk = ed.public_jwk();
    assert_eq!((jwk.kty, jwk.crv), ("OKP", Some("Ed25519")));
    assert!(jwk.y.is_none());
}

#[test]
fn signatures_have_the_jws_sizes_and_verify_only_under_their_key() {
    let mut others = Vec::new();
    for (alg, len) in [
        (SigningAlg::RS256, 256),
        (SigningAlg::PS256, 256),
        (SigningAlg::ES256, 64),
        (SigningAlg::EdDSA, 64),
    ] {
        let key = SigningKey::generate(alg, KeyBits::Rsa2048).unwrap();
        let mut token = "eyJhbGciOiJub25lIn0.e30".to_owned();
        key.sign_into(&mut token).unwrap();
        let (input, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert_eq!(signature.len(), len, "{alg}: r||s for ES256, not DER");
        assert!(key.verifier().unwrap().verify(input.as_bytes(), &signature));
        assert!(!key.verifier().unwrap().verify(b"other", &signature));
        others.push((key, signature, input.to_owned()));
    }
    // An RSA key's PKCS#1 v1.5 signature is no PSS signature, and the other way round.
    let rs = &others[0];
    let ps = SigningKey::from_der(&rs.0.to_pkcs8().unwrap(), SigningAlg::PS256).unwrap();
    assert!(!ps.verifier().unwrap().verify(rs.2.as_bytes(), &rs.1));
}

#[test]
fn pem_import_takes_the_algorithm_from_the_key_and_refuses_wrong_types() {
    let rsa = SigningKey::generate(SigningAlg::RS256, KeyBits::Rsa2048).unwrap();
    let pem = pem_of(&rsa.to_pkcs8().unwrap());
    let imported = SigningKey::from_pem(pem.as_bytes(), SigningAlg::RS256).unwrap();
    assert_eq!(
        (imported.kid(), imported.alg()),
        (rsa.kid(), SigningAlg::RS256)
    );
    let as_ps = SigningKey::from_pem(pem.as_bytes(), SigningAlg::PS256).unwrap();
    assert_eq!(as_ps.alg(), SigningAlg::PS256);

    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let ec_pem = pem_of(ec.to_pkcs8v1().unwrap().as_ref());
    let key = SigningKey::from_pem(ec_pem.as_bytes(), SigningAlg::RS256).unwrap();
    assert_eq!(key.alg(), SigningAlg::ES256);

    let ed = Ed25519KeyPair::generate().unwrap();
    let ed_der = AsDer::<Pkcs8V1Der>::as_der(&ed).unwrap();
    let key = SigningKey::from_pem(pem_of(ed_der.as_ref()).as_bytes(), SigningAlg::RS256).unwrap();
    assert_eq!(key.alg(), SigningAlg::EdDSA);
    let v2 = ed.to_pkcs8().unwrap();
    let key = SigningKey::from_pem(pem_of(v2.as_ref()).as_bytes(), SigningAlg::RS256).unwrap();
    assert_eq!(key.alg(), SigningAlg::EdDSA, "PKCS#8 v2 too");

    let p384 = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).unwrap();
    let err = SigningKey::from_pem(
        pem_of(p384.to_pkcs8v1().unwrap().as_ref()).as_bytes(),
        SigningAlg::RS256,
    )
    .unwrap_err();
    assert!(
        err.0.contains("curve P-384") && err.0.contains("only P-256"),
        "{err}"
    );

    let cert = pem::encode(&pem::Pem::new("CERTIFICATE", vec![1, 2, 3]));
    let err = SigningKey::from_pem(cert.as_bytes(), SigningAlg::RS256).unwrap_err();
    assert!(err.0.contains("not a private key"), "{err}");
    let err = SigningKey::from_pem(b"garbage", SigningAlg::RS256).unwrap_err();
    assert!(err.0.contains("not a PEM file"), "{err}");
    let err = SigningKey::from_pem(
        pem_of(b"\x30\x03\x02\x01\x00").as_bytes(),
        SigningAlg::RS256,
    )
    .unwrap_err();
    assert!(
        err.0.contains("not a private key Castellan signs with"),
        "{err}"
    );
}

#[test]
fn a_key_of_one_type_is_not_read_as_another() {
    let ec = SigningKey::generate(SigningAlg::ES256, KeyBits::Rsa2048).unwrap();
    let err = SigningKey::from_der(&ec.to_pkcs8().unwrap(), SigningAlg::EdDSA).unwrap_err();
    assert!(err.0.contains("it is an EC P-256 key"), "{err}");
    let err = SigningKey::from_der(&ec.to_pkcs8().unwrap(), SigningAlg::RS256).unwrap_err();
    assert!(err.0.contains("not a usable RSA private key"), "{err}");
    let err = SigningKey::from_der(b"not a key", SigningAlg::RS256).unwrap_err();
    assert!(err.0.contains("not a usable RSA private key"));
}
