package audit

// Actions of sharing by email. The rows name the delivery and recipient in
// Detail; never a code or a URL.
const (
	// ActionShareCreate records a share sent by email (one row per share;
	// each recipient's link also gets its own link.create row).
	ActionShareCreate = "share.create"
	// ActionShareRevoke records revoking every link of a share at once.
	ActionShareRevoke = "share.revoke"
	// ActionMailSent records a message the SMTP server accepted.
	ActionMailSent = "mail.sent"
	// ActionMailDeferred records a failed attempt that will be retried;
	// Detail holds the server's answer.
	ActionMailDeferred = "mail.deferred"
	// ActionMailFailed records a message given up on; Detail holds the
	// server's last answer.
	ActionMailFailed = "mail.failed"
)

// ActorMailer is the actor of the mail worker's rows.
const ActorMailer = "mailer"

// OutcomeError is the outcome of an act that failed (a delivery).
const OutcomeError = "error"
