//! The ICE credentials of WebRTC-direct, v1 and v2, read from the STUN `USERNAME` the dialer
//! sends (`server_ufrag:client_ufrag`).
//!
//! - v1 (`libp2p+webrtc+v1/…`): the dialer munged its offer so that its ufrag and password are
//!   both the server ufrag; the listener uses that one string for all four values.
//! - v2 (`libp2p+webrtc+v2/<client_pwd>`, libp2p/specs#715): the dialer keeps the random ufrag
//!   and password its browser generated (no munging) and writes its password into the server
//!   ufrag it put in the answer. The listener takes the client ufrag from the `USERNAME`, the
//!   client password from the server ufrag, and uses the server ufrag as its own ufrag and
//!   password.
//!
//! An unknown prefix is refused: never guess a version.

/// Server-ufrag prefix of the v1 handshake.
pub const V1_PREFIX: &str = "libp2p+webrtc+v1/";
/// Server-ufrag prefix of the v2 handshake.
pub const V2_PREFIX: &str = "libp2p+webrtc+v2/";

/// Which handshake a dialer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// Munged offer: ufrag = password = the server ufrag.
    V1,
    /// No munging: the client password travels in the server ufrag.
    V2,
}

/// What a listener needs to answer one dialer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The handshake version.
    pub version: Version,
    /// Our ufrag and password (both the server ufrag, in both versions).
    pub local: String,
    /// The dialer's ufrag, for the inferred offer.
    pub remote_ufrag: String,
    /// The dialer's password, for the inferred offer.
    pub remote_pwd: String,
}

/// RFC 8839 `ice-char`: ALPHA / DIGIT / "+" / "/".
fn is_ice_chars(text: &str) -> bool {
    text.bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/')
}

/// A valid `ice-ufrag` (4 to 256 ice-chars).
pub fn is_ufrag(text: &str) -> bool {
    (4..=256).contains(&text.len()) && is_ice_chars(text)
}

/// A valid `ice-pwd` (22 to 256 ice-chars).
pub fn is_pwd(text: &str) -> bool {
    (22..=256).contains(&text.len()) && is_ice_chars(text)
}

impl Credentials {
    /// The credentials for `USERNAME = server_ufrag:client_ufrag`; `None` when either half is
    /// malformed or the version is unknown.
    pub fn from_username(server_ufrag: &str, client_ufrag: &str) -> Option<Self> {
        if !is_ufrag(server_ufrag) || !is_ufrag(client_ufrag) {
            return None;
        }
        if server_ufrag.starts_with(V1_PREFIX) {
            // The one string is the dialer's ufrag and password too.
            return (is_pwd(server_ufrag) && client_ufrag == server_ufrag).then(|| Self {
                version: Version::V1,
                local: server_ufrag.to_owned(),
                remote_ufrag: server_ufrag.to_owned(),
                remote_pwd: server_ufrag.to_owned(),
            });
        }
        let client_pwd = server_ufrag.strip_prefix(V2_PREFIX)?;
        is_pwd(client_pwd).then(|| Self {
            version: Version::V2,
            local: server_ufrag.to_owned(),
            remote_ufrag: client_ufrag.to_owned(),
            remote_pwd: client_pwd.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PWD: &str = "abcdefghijklmnopqrstuvwxyz012345";

    #[test]
    fn v1_uses_the_one_munged_string_everywhere() {
        let ufrag = format!("{V1_PREFIX}{PWD}");
        let credentials = Credentials::from_username(&ufrag, &ufrag).expect("v1");
        assert_eq!(credentials.version, Version::V1);
        assert_eq!(credentials.local, ufrag);
        assert_eq!(credentials.remote_pwd, ufrag);
    }

    #[test]
    fn v2_takes_the_client_password_from_the_server_ufrag() {
        let server = format!("{V2_PREFIX}{PWD}");
        let credentials = Credentials::from_username(&server, "bRoW").expect("v2");
        assert_eq!(credentials.version, Version::V2);
        assert_eq!(credentials.local, server);
        assert_eq!(credentials.remote_ufrag, "bRoW");
        assert_eq!(credentials.remote_pwd, PWD);
    }

    #[test]
    fn unknown_versions_and_malformed_credentials_are_refused() {
        let v3 = format!("libp2p+webrtc+v3/{PWD}");
        assert_eq!(Credentials::from_username(&v3, "abcd"), None);
        assert_eq!(Credentials::from_username(PWD, "abcd"), None);
        // v2 with a password too short for ICE.
        let short = format!("{V2_PREFIX}short");
        assert_eq!(Credentials::from_username(&short, "abcd"), None);
        // v1 whose halves differ, or characters outside ice-char.
        let v1 = format!("{V1_PREFIX}{PWD}");
        assert_eq!(Credentials::from_username(&v1, "abcd"), None);
        assert_eq!(
            Credentials::from_username(&format!("{V2_PREFIX}{PWD}"), "a b c"),
            None
        );
        assert_eq!(Credentials::from_username(&"a".repeat(300), "abcd"), None);
    }
}
