//! The store's error type: what callers can act on, not which driver said it.

/// `Unavailable` means "try again later"; `Internal` is a bug or a corrupt row.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal store error: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::error::ErrorKind;
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound("not found".into()),
            sqlx::Error::Database(db) => match db.kind() {
                ErrorKind::UniqueViolation => Self::Conflict("already exists".into()),
                ErrorKind::ForeignKeyViolation => {
                    Self::Conflict("still referenced by other records".into())
                }
                ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                    Self::Invalid(db.message().to_owned())
                }
                _ => Self::Unavailable(db.message().to_owned()),
            },
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::ColumnIndexOutOfBounds { .. }
            | sqlx::Error::TypeNotFound { .. } => Self::Internal(e.to_string()),
            _ => Self::Unavailable(e.to_string()),
        }
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
