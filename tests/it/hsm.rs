//! CA keys in a SoftHSM2 token: the token ceremony, issuance, OCSP, CRL and a PDF seal
//! signed through PKCS#11 (RSA-2048 and P-256), checked by openssl and pkilint; clear errors for
//! a wrong PIN, a missing key label or token, a removed token; keys not extractable.
//!
//! SoftHSM reads `SOFTHSM2_CONF` once per process (at `C_Initialize`), and setting an
//! environment variable while other test threads run is unsafe (libpq and OpenSSL call
//! `getenv`). So [`softhsm2_suite`] makes a private token directory and runs the
//! `hsm::token::` tests in a child process of this test binary with `SOFTHSM2_CONF` set
//! from its start.

use std::path::Path;
use std::process::Command;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// Set in the child process only.
const CHILD: &str = "CA_ENROL_TEST_SOFTHSM_CHILD";
/// A leading zero: the PIN must reach the token as typed, never as a number.
const PIN: &str = "0123";
const SO_PIN: &str = "876543";
/// The tokens the child's tests use, made before the child starts (SoftHSM lists the
/// tokens of its directory when it initialises).
const TOKENS: [&str; 6] = [
    "rsa2048",
    "p256",
    "offline-root",
    "errors",
    "removed",
    "remote",
];
/// The `#[ignore]`d tests in `token`, all of which must run and pass in the child.
const CHILD_TESTS: usize = 6;

fn softhsm2_util(conf: &Path, args: &[&str]) -> std::process::Output {
    Command::new("softhsm2-util")
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .output()
        .unwrap()
}

#[test]
fn softhsm2_suite() {
    if Command::new("softhsm2-util")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED hsm::softhsm2_suite: softhsm2-util is not installed (apt-get install softhsm2)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    for label in TOKENS {
        let out = softhsm2_util(
            &conf,
            &[
                "--init-token",
                "--free",
                "--label",
                label,
                "--pin",
                PIN,
                "--so-pin",
                SO_PIN,
            ],
        );
        assert!(out.status.success(), "{out:?}");
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["hsm::token::", "--include-ignored", "--test-threads=2"])
        .env("SOFTHSM2_CONF", &conf)
        .env("PKCS11_PIN", PIN)
        .env(CHILD, "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SoftHSM2 tests failed:\n{text}");
    assert!(
        text.contains(&format!("test result: ok. {CHILD_TESTS} passed")),
        "not every SoftHSM2 test ran:\n{text}"
    );
}

mod token {
    use std::path::Path;
    use std::process::Command;
    use std::sync::Arc;

    use super::{CHILD, MODULE, PIN};
    use crate::common::pki::{assert_openssl_verifies, assert_pkilint_clean, ocsp_status};
    use crate::common::{self, TestApp, TestEnv};
    use ca_enrol::ca::{CaKeyAlgorithm, Pkcs11Token, Signer};
    use ca_enrol::ca_files::{SignerKind, TokenCeremony, TokenCeremonyDone};
    use ca_enrol::config::Config;

    fn in_child(test: &str) -> bool {
        let yes = std::env::var_os(CHILD).is_some();
        if !yes {
            eprintln!("{test}: runs inside hsm::softhsm2_suite, which sets SOFTHSM2_CONF");
        }
        yes
    }

    fn use_token(config: &mut Config, token: &str) {
        config.ca.signer = SignerKind::Pkcs11;
        config.ca.pkcs11.module = MODULE.into();
        config.ca.pkcs11.token_label = token.into();
        config.ca.pkcs11.sessions = 2;
    }

    fn tool(program: &str, args: &[&str]) -> String {
        let out = Command::new(program).args(args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{program} {args:?}:\n{text}");
        text
    }

    /// The token ceremony, then a certificate through the API, its OCSP answer and the
    /// CRL, all signed in the token and checked by openssl and pkilint.
    async fn issuance_ocsp_and_crl_through_the_token(token: &str, key: CaKeyAlgorithm) {
        let env = TestEnv::bare();
        let ceremony = env.ca_root().join("ceremony.toml");
        let text = std::fs::read_to_string(&ceremony).unwrap();
        let alg = match key {
            CaKeyAlgorithm::P256 => "p256",
            _ => "rsa2048",
        };
        std::fs::write(
            &ceremony,
            text.replace("key = \"rsa2048\"", &format!("key = \"{alg}\"")),
        )
        .unwrap();
        let mut config = env.config();
        use_token(&mut config, token);
        // The PIN from a file here; the other tests take it from PKCS11_PIN.
        let pin_file = env.dir.path().join("pin");
        std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
        config.ca.pkcs11.pin_file = pin_file.clone();
        match ca_enrol::ca_files::run_token_ceremony(&config, TokenCeremony::Full).unwrap() {
            TokenCeremonyDone::Certificates(out) => assert_eq!(out.sealing_sha256.len(), 64),
            _ => unreachable!(),
        }
        let ca = env.ca_root();
        let private: Vec<_> = std::fs::read_dir(ca.join("private"))
            .into_iter()
            .flatten()
            .collect();
        assert!(private.is_empty(), "a token ceremony wrote {private:?}");
        for leaf in ["ocsp.pem", "sealing.pem"] {
            assert_openssl_verifies(
                &ca.join("root.pem"),
                &ca.join("issuing.pem"),
                &ca.join(leaf),
                chrono::Utc::now().timestamp(),
            );
        }
        for cert in ["root.pem", "issuing.pem", "ocsp.pem", "sealing.pem"] {
            assert_pkilint_clean(&ca.join(cert));
        }

        // Start-up refuses a token key that does not match its certificate, naming both.
        let mut swapped = config.clone();
        swapped.ca.pkcs11.issuing_key_label = swapped.ca.pkcs11.ocsp_key_label.clone();
        let err = match ca_enrol::ca_files::load_ca(&swapped) {
            Ok(_) => panic!("start-up accepted the OCSP key for the issuing certificate"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("issuing.pem"), "{err}");
        assert!(
            err.contains(&format!("pkcs11:token={token};object=ca-enrol-ocsp")),
            "{err}"
        );
        assert!(err.contains("does not match"), "{err}");
        // Keys found by CKA_ID as well as by label (the ceremony sets the id to the label).
        let mut by_id = config.clone();
        by_id.ca.pkcs11.issuing_key_label = format!("id:{}", hex::encode("ca-enrol-issuing"));
        let handles = ca_enrol::ca_files::load_ca(&by_id).unwrap();
        handles.issuing.signer().sign(b"tbs").unwrap();
        drop(handles);
        by_id.ca.pkcs11.issuing_key_label = "id:00ff".into();
        let err = match ca_enrol::ca_files::load_ca(&by_id) {
            Ok(_) => panic!("started with a key id that is not in the token"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("no public key with id \"id:00ff\""), "{err}");

        let mut app = TestApp::spawn_with(env, |c| {
            use_token(c, token);
            c.ca.pkcs11.pin_file = pin_file;
        })
        .await;
        assert_eq!(
            app.state.ca.issuing.signer().algorithm(),
            match key {
                CaKeyAlgorithm::P256 => ca_enrol::ca::SignatureAlgorithm::EcdsaSha256,
                _ => ca_enrol::ca::SignatureAlgorithm::Sha256WithRsa,
            }
        );
        let api_key = common::enrol::enrol_key(&mut app).await;
        let enrolment = common::contract::contracted(&app, &api_key, 1).await;
        let (status, body) = app
            .post(
                &format!("/api/v1/enrolments/{enrolment}/certificate"),
                Some(&api_key),
                serde_json::json!({ "csr": common::certificates::csr_pem() }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let dir = tempfile::tempdir().unwrap();
        let leaf = dir.path().join("leaf.pem");
        std::fs::write(&leaf, body["certificate_pem"].as_str().unwrap()).unwrap();
        assert_openssl_verifies(
            &ca.join("root.pem"),
            &ca.join("issuing.pem"),
            &leaf,
            app.now(),
        );
        assert_pkilint_clean(&leaf);

        // The provider's seal on a PDF, signed by the sealing key in the token.
        let sealed = ca_enrol::pdf_seal::seal_pdf(
            &common::seal::sample_pdf(),
            &app.state.ca.sealing,
            &ca_enrol::pdf_seal::SealParams {
                name: "CA-Enrol Development".into(),
                reason: "Đóng dấu".into(),
                location: "Hà Nội".into(),
                time: chrono::Utc::now(),
                widget: Some((0, [300.0, 100.0, 540.0, 160.0])),
            },
        )
        .unwrap();
        let sealed_pdf = dir.path().join("sealed.pdf");
        std::fs::write(&sealed_pdf, sealed).unwrap();
        common::seal::assert_seal_checks_out(
            &sealed_pdf,
            &ca.join("root.pem"),
            &ca.join("issuing.pem"),
        );

        // OCSP: openssl as the client (it checks the responder's signature), and pkilint
        // on the DER answer.
        let skew = app.now() - chrono::Utc::now().timestamp();
        let (word, text) = ocsp_status(&ca, &app.url("/ocsp"), &leaf, skew);
        assert!(!word.is_empty(), "{text}");
        let req = dir.path().join("req.der");
        tool(
            "openssl",
            &[
                "ocsp",
                "-no_nonce",
                "-issuer",
                ca.join("issuing.pem").to_str().unwrap(),
                "-cert",
                leaf.to_str().unwrap(),
                "-reqout",
                req.to_str().unwrap(),
            ],
        );
        let resp = app
            .http
            .post(app.url("/ocsp"))
            .header("content-type", "application/ocsp-request")
            .body(std::fs::read(&req).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let resp_der = dir.path().join("resp.der");
        std::fs::write(&resp_der, resp.bytes().await.unwrap()).unwrap();
        let findings = tool(
            "lint_ocsp_response",
            &["lint", "-s", "WARNING", resp_der.to_str().unwrap()],
        );
        assert!(findings.trim().is_empty(), "{findings}");

        // CRL: signed by the issuing key in the token.
        let name = app.state.ca.issuing.name().to_string();
        let resp = app
            .http
            .get(app.url(&format!("/crl/{name}.crl")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let crl = dir.path().join("x.crl");
        std::fs::write(&crl, resp.bytes().await.unwrap()).unwrap();
        let text = tool(
            "openssl",
            &[
                "crl",
                "-inform",
                "DER",
                "-in",
                crl.to_str().unwrap(),
                "-CAfile",
                ca.join("issuing.pem").to_str().unwrap(),
                "-noout",
            ],
        );
        assert!(text.contains("verify OK"), "{text}");
        let findings = tool(
            "lint_crl",
            &[
                "lint",
                "-t",
                "CRL",
                "-p",
                "PKIX",
                "-s",
                "WARNING",
                crl.to_str().unwrap(),
            ],
        );
        assert!(findings.trim().is_empty(), "{findings}");

        keys_are_sensitive_and_never_extractable(token);
    }

    /// Reads the private keys' attributes through a PKCS#11 session of its own: the secret
    /// values are refused (`CKR_ATTRIBUTE_SENSITIVE`), the keys sensitive and never
    /// extractable.
    fn keys_are_sensitive_and_never_extractable(token: &str) {
        use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
        use cryptoki::error::{Error, RvError};
        use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass};
        use cryptoki::session::UserType;
        use cryptoki::types::AuthPin;

        let ctx = Pkcs11::new(MODULE).unwrap();
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => panic!("{e}"),
        }
        let slot = ctx
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            // The removal test's deleted token may leave a slot that no longer answers.
            .find(|s| {
                ctx.get_token_info(*s)
                    .is_ok_and(|i| i.label().trim_end() == token)
            })
            .unwrap();
        let session = ctx.open_ro_session(slot).unwrap();
        match session.login(UserType::User, Some(&AuthPin::from(PIN.to_string()))) {
            Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
            Err(e) => panic!("{e}"),
        }
        for label in [
            "ca-enrol-root",
            "ca-enrol-issuing",
            "ca-enrol-ocsp",
            "ca-enrol-sealing",
        ] {
            let keys = session
                .find_objects(&[
                    Attribute::Class(ObjectClass::PRIVATE_KEY),
                    Attribute::Label(label.as_bytes().to_vec()),
                ])
                .unwrap();
            assert_eq!(keys.len(), 1, "{label}");
            let attrs = session
                .get_attributes(
                    keys[0],
                    &[
                        AttributeType::KeyType,
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::NeverExtractable,
                    ],
                )
                .unwrap();
            let mut rsa = false;
            for a in &attrs {
                match a {
                    Attribute::KeyType(t) => rsa = *t == KeyType::RSA,
                    Attribute::Sensitive(v) => assert!(*v, "{label} not sensitive"),
                    Attribute::Extractable(v) => assert!(!*v, "{label} extractable"),
                    Attribute::NeverExtractable(v) => assert!(*v, "{label} was extractable"),
                    _ => {}
                }
            }
            assert_eq!(attrs.len(), 4, "{label}: {attrs:?}");
            // CKA_VALUE is the EC private scalar; RSA keys keep theirs in
            // CKA_PRIVATE_EXPONENT and the primes.
            let secrets: &[AttributeType] = if rsa {
                &[
                    AttributeType::PrivateExponent,
                    AttributeType::Prime1,
                    AttributeType::Prime2,
                ]
            } else {
                &[AttributeType::Value]
            };
            for info in session.get_attribute_info(keys[0], secrets).unwrap() {
                assert!(
                    matches!(info, AttributeInfo::Sensitive),
                    "{label}: {info:?}"
                );
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "run by hsm::softhsm2_suite with a private SOFTHSM2_CONF"]
    async fn rsa2048_issuance_ocsp_and_crl_are_signed_in_the_token() {
        if in_child("rsa2048") {
            issuance_ocsp_and_crl_through_the_token("rsa2048", CaKeyAlgorithm::Rsa2048).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "run by hsm::softhsm2_suite with a private SOFTHSM2_CONF"]
    async fn p256_issuance_ocsp_and_crl_are_signed_in_the_token() {
        if in_child("p256") {
            issuance_ocsp_and_crl_through_the_token("p256", CaKeyAlgorithm::P256).await;
        }
    }

    /// Remote signing with subscriber keys in the token: `key_mode: "remote"` issuance,
    /// acceptance, OTP, SAD and `signHash` over HTTP, the signature checked by openssl; the
    /// key is a token object labelled by the credential id; recovery destroys the token key
    /// of a credential its issuance left `pending`.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "run by hsm::softhsm2_suite with a private SOFTHSM2_CONF"]
    async fn remote_signing_keys_are_generated_and_used_in_the_token() {
        if !in_child("remote") {
            return;
        }
        let env = TestEnv::bare();
        let mut config = env.config();
        use_token(&mut config, "remote");
        ca_enrol::ca_files::run_token_ceremony(&config, TokenCeremony::Full).unwrap();
        let mut app = TestApp::spawn_with(env, |c| use_token(c, "remote")).await;
        let token = Pkcs11Token::open(Path::new(MODULE), "remote", PIN).unwrap();
        let credential = crate::csc::signed_through_csc(&mut app, 63).await;
        assert!(token.has_key(&credential).unwrap());

        use ca_enrol::clock::Clock;
        let old = (app.clock.now() - chrono::Duration::minutes(11)).naive_utc();
        app.env.sql(&format!(
            "INSERT INTO csc_credentials (id, enrolment_id, key_algorithm, key_store, state, \
             created_at) VALUES ('c-stopped', 'e-none', 'P-256', 'pkcs11', 'pending', '{old}')"
        ));
        token.generate("c-stopped", CaKeyAlgorithm::P256).unwrap();
        let settled = app.state.remote_signing.recover().await.unwrap();
        assert_eq!(settled, vec!["c-stopped".to_string()]);
        assert!(!token.has_key("c-stopped").unwrap());
        assert!(token.has_key(&credential).unwrap());
    }

    /// `--csr-only` then `--import-issuing` with a root that stays offline (here, a file
    /// root made by openssl): the imported CA signs through the token.
    #[test]
    #[ignore = "run by hsm::softhsm2_suite with a private SOFTHSM2_CONF"]
    fn csr_for_an_offline_root_then_import_of_the_signed_issuing_certificate() {
        if !in_child("offline-root") {
            return;
        }
        let env = TestEnv::bare();
        let mut config = env.config();
        use_token(&mut config, "offline-root");
        let csr = match ca_enrol::ca_files::run_token_ceremony(&config, TokenCeremony::CsrOnly)
            .unwrap()
        {
            TokenCeremonyDone::Csr(p) => p,
            _ => unreachable!(),
        };
        let text = tool(
            "openssl",
            &["req", "-in", csr.to_str().unwrap(), "-verify", "-noout"],
        );
        assert!(text.contains("verify OK"), "{text}");
        // The offline root signs it.
        let dir = tempfile::tempdir().unwrap();
        let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
        tool(
            "openssl",
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:3072",
                "-nodes",
                "-keyout",
                &p("root.key"),
                "-out",
                &p("root.pem"),
                "-days",
                "3650",
                "-subj",
                "/C=VN/O=Offline/CN=Offline Root",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        std::fs::write(
            p("ext.cnf"),
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
        tool(
            "openssl",
            &[
                "x509",
                "-req",
                "-in",
                csr.to_str().unwrap(),
                "-CA",
                &p("root.pem"),
                "-CAkey",
                &p("root.key"),
                "-CAcreateserial",
                "-days",
                "1825",
                "-sha256",
                "-extfile",
                &p("ext.cnf"),
                "-out",
                &p("issuing.pem"),
            ],
        );
        // The wrong certificate (the root itself) is refused: not for the token's key.
        let wrong = TokenCeremony::Import {
            issuing: p("root.pem").into(),
            root: p("root.pem").into(),
        };
        let err = ca_enrol::ca_files::run_token_ceremony(&config, wrong)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("does not match"), "{err}");
        let import = TokenCeremony::Import {
            issuing: p("issuing.pem").into(),
            root: p("root.pem").into(),
        };
        ca_enrol::ca_files::run_token_ceremony(&config, import).unwrap();
        let ca = env.ca_root();
        assert_openssl_verifies(
            &ca.join("root.pem"),
            &ca.join("issuing.pem"),
            &ca.join("ocsp.pem"),
            chrono::Utc::now().timestamp(),
        );
        let handles = ca_enrol::ca_files::load_ca(&config).unwrap();
        let sig = handles.issuing.signer().sign(b"tbs").unwrap();
        assert_eq!(sig.len(), 256);
        let sealing = handles.sealing.signer();
        assert_eq!(sealing.sign(b"document").unwrap().len(), 256);
        drop(handles);

        // A token CA from before the sealing key: start-up names the command that adds it,
        // which generates the key in the token and has the token's issuing key certify it.
        std::fs::remove_file(ca.join("sealing.pem")).unwrap();
        let err = match ca_enrol::ca_files::load_ca(&config) {
            Ok(_) => panic!("started without sealing.pem"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("ceremony --pkcs11 --add-sealing-key"), "{err}");
        // The old key label is taken: refused, nothing written.
        let err = ca_enrol::ca_files::run_token_ceremony(&config, TokenCeremony::AddSealing)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("already holds a key"), "{err}");
        assert!(!ca.join("sealing.pem").exists());
        config.ca.pkcs11.sealing_key_label = "ca-enrol-sealing-2".into();
        match ca_enrol::ca_files::run_token_ceremony(&config, TokenCeremony::AddSealing).unwrap() {
            TokenCeremonyDone::Sealing(sha256) => assert_eq!(sha256.len(), 64),
            _ => unreachable!(),
        }
        assert_openssl_verifies(
            &ca.join("root.pem"),
            &ca.join("issuing.pem"),
            &ca.join("sealing.pem"),
            chrono::Utc::now().timestamp(),
        );
        let handles = ca_enrol::ca_files::load_ca(&config).unwrap();
        handles.sealing.signer().sign(b"document").unwrap();
    }

    #[test]
    #[ignore = "run by hsm::softhsm2_suite with a private SOFTHSM2_CONF"]
    fn wrong_pin_missing_token_and_missing_key_label_are_named() {
        if !in_child("errors") {
            return;
        }
        let err = |r: Result<Arc<Pkcs11Token>, ca_enrol::ca::CaError>| match r {
            Ok(_) => panic!("opened"),
            Err(e) => (e.code(), e.to_string()),
        };
        let (code, msg) = err(Pkcs11Token::open(Path::new(MODULE), "errors", "9999"));
        assert_eq!(code, "key_load");
        assert!(
            msg.contains("\"errors\"") && msg.contains("wrong PIN"),
            "{msg}"
        );
        assert!(!msg.contains("9999"), "the PIN is never shown: {msg}");
        let (_, msg) = err(Pkcs11Token::open(Path::new(MODULE), "absent", PIN));
        assert!(msg.contains("no token labelled \"absent\""), "{msg}");
        assert!(msg.contains("errors"), "lists the tokens present: {msg}");
        let (_, msg) = err(Pkcs11Token::open(
            Path::new("/nonexistent/libp11.so"),
            "errors",
            PIN,
        ));
        assert!(msg.contains("/nonexistent/libp11.so"), "{msg}");

        let token = Pkcs11Token::open(Path::new(MODULE), "errors", PIN).unwrap();
        let e = token.signer("ca-enrol-issuing", 1).err().unwrap();
        assert_eq!(e.code(), "key_load");
        assert!(
            e.to_string()
                .contains("no public key labelled \"ca-enrol-issuing\""),
            "{e}"
        );
        // Serve names the key label and the token (the certificates are the file CA's).
        let env = TestEnv::new();
        let mut config = env.config();
        use_token(&mut config, "errors");
        let msg = match ca_enrol::ca_files::load_ca(&config) {
            Ok(_) => panic!("started without the keys"),
            Err(e) => e.to_string(),
        };
        assert!(
            msg.contains("pkcs11:token=errors;object=ca-enrol-issuing")
                && msg.contains("no public key labelled"),
            "{msg}"
        );
    }

    /// The token disappears under a running signer: the signature fails (after its one
    /// retry on a fresh session) with an error naming the token, never a panic.
    #[test]
    #[ignore = "run by hsm::softhsm2_suite with a private SOFTHSM2_CONF"]
    fn a_removed_token_fails_signing_with_a_clear_error() {
        if !in_child("removed") {
            return;
        }
        let token = Pkcs11Token::open(Path::new(MODULE), "removed", PIN).unwrap();
        token.generate("k", CaKeyAlgorithm::P256).unwrap();
        let signer = token.signer("k", 2).unwrap();
        signer.sign(b"before").unwrap();
        let out = Command::new("softhsm2-util")
            .args(["--delete-token", "--token", "removed"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let e = signer.sign(b"after").err().unwrap();
        assert_eq!(e.code(), "sign_failed");
        assert!(e.to_string().contains("\"removed\""), "{e}");
    }
}
