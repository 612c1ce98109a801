//! The two newtypes every framework adapter needs (the orphan rule wants its own types to
//! implement the framework's traits on), written once here so the adapters cannot drift.

/// Defines an adapter's webhook extractor type: a shared [`Webhook`](crate::Webhook) with
/// `into_inner`, `Deref` to the core's accessors, and `From<Arc<Webhook>>`. The adapter adds
/// its framework's extractor trait.
#[macro_export]
macro_rules! adapter_webhook {
    ($(#[$attr:meta])* $vis:vis struct $name:ident;) => {
        $(#[$attr])*
        #[derive(Debug, Clone)]
        $vis struct $name(::std::sync::Arc<$crate::Webhook>);

        impl $name {
            /// The verified webhook as the core crate's flow made it.
            #[must_use]
            pub fn into_inner(self) -> $crate::Webhook {
                ::std::sync::Arc::unwrap_or_clone(self.0)
            }
        }

        /// The accessors of the core's [`Webhook`](kirim_verify::Webhook): `body()`,
        /// `delivery()`, `verified()`, `json()`.
        impl ::core::ops::Deref for $name {
            type Target = $crate::Webhook;

            fn deref(&self) -> &$crate::Webhook {
                &self.0
            }
        }

        /// Shared, not copied: the flow keeps the webhook to settle its claims while the
        /// handler holds it.
        impl ::core::convert::From<::std::sync::Arc<$crate::Webhook>> for $name {
            fn from(webhook: ::std::sync::Arc<$crate::Webhook>) -> Self {
                Self(webhook)
            }
        }
    };
}

/// Defines an adapter's rejection type: a [`Rejection`](crate::Rejection) with
/// `into_rejection`, `Deref` to the core's accessors (`status()`, `body()`,
/// `retry_after_secs()`), a transparent `Display` and `Error`, `From<Rejection>`, and a
/// crate-private `logged` constructor that emits the operator's event. The adapter adds its
/// framework's response trait.
#[macro_export]
macro_rules! adapter_rejection {
    ($(#[$attr:meta])* $vis:vis struct $name:ident;) => {
        $(#[$attr])*
        #[derive(Debug)]
        $vis struct $name($crate::Rejection);

        impl $name {
            /// The reason, owned.
            #[must_use]
            pub fn into_rejection(self) -> $crate::Rejection {
                self.0
            }

            /// Wraps a rejection this crate makes, emitting the operator's event.
            #[allow(dead_code)]
            pub(crate) fn logged(rejection: $crate::Rejection) -> Self {
                rejection.log();
                Self(rejection)
            }
        }

        /// The core's accessors: `status()`, `body()`, `retry_after_secs()`.
        impl ::core::ops::Deref for $name {
            type Target = $crate::Rejection;

            fn deref(&self) -> &$crate::Rejection {
                &self.0
            }
        }

        /// Transparent: the core's reason is the whole story.
        impl ::core::fmt::Display for $name {
            fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                ::core::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::error::Error for $name {
            fn source(&self) -> ::core::option::Option<&(dyn ::std::error::Error + 'static)> {
                ::std::error::Error::source(&self.0)
            }
        }

        impl ::core::convert::From<$crate::Rejection> for $name {
            fn from(rejection: $crate::Rejection) -> Self {
                Self(rejection)
            }
        }
    };
}
