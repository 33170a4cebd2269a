package server

import (
	"html/template"
	"net/http"
	"strings"

	"github.com/sharesvc/sharesvc/internal/audit"
)

// previewAgents are substrings of the user agents of link-preview bots
// (chat unfurlers, social cards, mail link checkers that say who they are),
// in lower case: matched case-insensitively. Scanners that pose as browsers
// cannot be told apart and are treated as people.
var previewAgents = []string{
	"slackbot", "slack-imgproxy", "facebookexternalhit", "facebookcatalog", "twitterbot", "discordbot",
	"linkedinbot", "whatsapp", "telegrambot", "skypeuripreview", "microsoftpreview", "teams/",
	"mattermost-bot", "rocket.chat", "googlebot", "bingbot", "applebot", "redditbot", "embedly",
	"iframely", "pinterestbot", "vkshare", "zoom", "signal", "viber", "snapchat", "mastodon",
	"outlook-ios-linkpreview", "google-pagerenderer", "bitlybot", "yahoo! slurp",
}

// isPreviewBot reports whether ua names a link-preview bot.
func isPreviewBot(ua string) bool {
	ua = strings.ToLower(ua)
	for _, a := range previewAgents {
		if strings.Contains(ua, a) {
			return true
		}
	}
	return false
}

// answerPreview answers a preview bot's GET of a live link with a small
// page instead of a redirect: nothing is minted and no use is spent, and
// the request is audited as nothing_minted/preview.
func (s *Server) answerPreview(w http.ResponseWriter, r *http.Request, ev audit.Event) error {
	if err := s.nothingMinted(r, ev, "preview"); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	return previewPage.Execute(w, nil)
}

// nothingMinted records a share request answered with a page instead of a
// URL (reason: confirm_page, upload_page, preview or head): outcome, page
// count and audit row, all with reason. It is not a denial.
func (s *Server) nothingMinted(r *http.Request, ev audit.Event, reason string) error {
	info(r).outcome = reason
	s.metrics.Pages.WithLabelValues(reason).Inc()
	ev.Outcome, ev.Reason = audit.OutcomeNothingMinted, reason
	return s.appendDenial(r.Context(), ev)
}

var previewPage = template.Must(template.New("preview").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Shared file</title><meta property="og:title" content="Shared file"></head>
<body><p>Open this link in a browser to download the shared file.</p></body></html>
`))
