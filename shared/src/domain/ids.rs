//! Opaque ids. ULIDs sort by creation time, which keeps listings and logs readable.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::ops::Deref;

/// A string id with its own type, so a job id, an owner and any other string cannot be
/// passed for one another. Reads as `&str` (`Deref`) where plain text is wanted.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_id!(
    /// A job's id: `vid_` + a ULID. Made by [`JobId::new`]; from outside (a URL path)
    /// only through [`JobId::parse`], which checks the shape.
    JobId
);

string_id!(
    /// Who owns a job or an upload: the verified JWT `sub` in AWS, the token's owner
    /// locally. Any text: it is hex-encoded wherever it becomes part of a storage key.
    Owner
);

impl JobId {
    /// A new job id.
    #[allow(clippy::new_without_default)]
    pub fn new() -> JobId {
        JobId(new_job_id())
    }

    /// A job id from outside, if it has the shape of one.
    pub fn parse(raw: &str) -> Option<JobId> {
        is_job_id(raw).then(|| JobId(raw.to_string()))
    }
}

impl Owner {
    pub fn new(owner: impl Into<String>) -> Owner {
        Owner(owner.into())
    }
}

/// A new job id: `vid_` + a ULID.
pub fn new_job_id() -> String {
    format!("vid_{}", ulid::Ulid::new())
}

/// A new upload id: `up_` + a ULID.
pub fn new_upload_id() -> String {
    format!("up_{}", ulid::Ulid::new())
}

/// A new request id for the `x-request-id` header.
pub fn new_request_id() -> String {
    format!("req_{}", ulid::Ulid::new())
}

/// True when `id` has the shape of a job id. Lets routes answer 404 for garbage ids
/// without a store round trip, and keeps odd bytes out of store keys.
pub fn is_job_id(id: &str) -> bool {
    has_ulid_suffix(id, "vid_")
}

/// True when `id` has the shape of an upload id.
pub fn is_upload_id(id: &str) -> bool {
    has_ulid_suffix(id, "up_")
}

/// `prefix` + a ULID exactly as minted: 26 upper-case Crockford base32 characters.
fn has_ulid_suffix(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|rest| {
        // At most 7 first: 26 base32 digits hold 130 bits, a ULID 128.
        rest.len() == ulid::ULID_LEN
            && rest.as_bytes()[0] <= b'7'
            && rest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b.is_ascii_uppercase() && !b"ILOU".contains(&b)))
            && ulid::Ulid::from_string(rest).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_their_shape() {
        assert!(is_job_id(&new_job_id()));
        assert!(is_upload_id(&new_upload_id()));
        assert!(!is_job_id(&new_upload_id()));
        assert!(!is_job_id("vid_../../etc"));
        assert!(!is_job_id(""));
        let id = new_upload_id();
        assert!(!is_upload_id(&id.to_lowercase()));
        assert!(!is_upload_id(&format!("{id}0")));
        assert!(
            !is_upload_id(&format!("up_{}", "Z".repeat(26))),
            "overflows 128 bits"
        );
    }

    #[test]
    fn ids_are_unique() {
        assert_ne!(new_job_id(), new_job_id());
    }
}
