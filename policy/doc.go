// Package policy is the per-PKP policy a PKP's owner hands to litsignd with
// a delegation: which producers may use the PKP, for which job kinds,
// chains and Lit Actions, whether an action may return signatures by other
// PKPs, and how many jobs a minute. The operator's default applies to
// hand-offs without one. Policies are checked by the job consumer before
// any node request; this package has no I/O and imports no Lit client.
package policy
