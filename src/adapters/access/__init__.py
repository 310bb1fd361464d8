"""Access: GitHub's permissions of a user (port GitHubPermissions) and the sign-in with GitHub
(ports GitHubSignIn, SessionStore)."""
