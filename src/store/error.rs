//! The store's error type: what callers can act on, not which driver said it.

/// What caused a store failure, kept for the one log line that reports it.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Unavailable` means "try again later"; `Internal` is a bug or a corrupt row. Both keep the
/// driver's error as their source: callers act on the variant, operators read the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database unavailable: {what}")]
    Unavailable {
        what: String,
        #[source]
        source: Option<Cause>,
    },
    #[error("internal store error: {what}")]
    Internal {
        what: String,
        #[source]
        source: Option<Cause>,
    },
}

impl Error {
    pub fn unavailable(what: impl Into<String>) -> Self {
        Self::Unavailable {
            what: what.into(),
            source: None,
        }
    }

    pub fn internal(what: impl Into<String>) -> Self {
        Self::Internal {
            what: what.into(),
            source: None,
        }
    }

    /// Unavailable because of `source` (a migration that failed, say).
    pub fn unavailable_from(what: impl Into<String>, source: impl Into<Cause>) -> Self {
        Self::Unavailable {
            what: what.into(),
            source: Some(source.into()),
        }
    }

    /// An internal error caused by another error (a value that fails to parse, say).
    pub fn internal_from(source: impl Into<Cause>) -> Self {
        let source = source.into();
        Self::Internal {
            what: source.to_string(),
            source: Some(source),
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        let caused = |what: &str, e: sqlx::Error| (what.to_owned(), Some(Cause::from(e)));
        let (what, source) = match &e {
            sqlx::Error::RowNotFound => return Self::NotFound("not found".into()),
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => return Self::Conflict("already exists".into()),
                ErrorKind::ForeignKeyViolation => {
                    return Self::Conflict("still referenced by other records".into());
                }
                ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                    return Self::Invalid(db.message().to_owned());
                }
                _ => caused("the database refused the statement", e),
            },
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. } => {
                let (what, source) = caused("a row does not decode", e);
                return Self::Internal { what, source };
            }
            _ => caused("cannot reach the database", e),
        };
        Self::Unavailable { what, source }
    }
}

/// Turns a unique-constraint violation into a message the operator understands.
pub trait ResultExt<T> {
    fn on_conflict(self, message: impl FnOnce() -> String) -> Result<T, Error>;
}

impl<T> ResultExt<T> for Result<T, Error> {
    fn on_conflict(self, message: impl FnOnce() -> String) -> Result<T, Error> {
        self.map_err(|e| match e {
            Error::Conflict(_) => Error::Conflict(message()),
            other => other,
        })
    }
}
