package devnet

import (
	"encoding/json"
	"net/http"
)

// PublicError is a Lit node's error body (docs/naga-wire.md §11.1): sent plain (the
// handshake guards, legacy routes, "can't decrypt") or as the JSON text of
// GenericResponse.errorObject inside an encrypted response. Optional keys are
// omitted when empty, as the node omits them.
type PublicError struct {
	ErrorKind     string   `json:"errorKind"`
	ErrorCode     string   `json:"errorCode,omitempty"`
	Status        int      `json:"status"`
	Message       string   `json:"message,omitempty"`
	CorrelationID string   `json:"correlationId,omitempty"`
	Details       []string `json:"details,omitempty"`
	// Logs is the Lit Action's console output, appended to the errors of
	// a failed action (docs/naga-wire.md §11.1 handle_with_logs); nil elsewhere.
	Logs *string `json:"logs,omitempty"`
}

// GenericResponse is the node's response wrapper (docs/naga-wire.md §3 "Response
// body shapes", §5.3): {ok, error, errorObject, data}.
type GenericResponse struct {
	OK          bool    `json:"ok"`
	Error       *string `json:"error"`
	ErrorObject *string `json:"errorObject"`
	Data        any     `json:"data"`
}

// Node error codes the devnet emits (docs/naga-wire.md §11.2, docs/naga-auth.md §6). Each is
// the enum variant name a Lit node writes into PublicError.errorCode.
const (
	CodeInvalidAuthSig                    = "NodeInvalidAuthSig"
	CodeInvalidAuthSigSessionKeySignature = "NodeInvalidAuthSigSessionKeySignature"
	CodeAuthSigAddressConversionError     = "NodeAuthSigAddressConversionError"
	CodeAuthSigSessionKeyConversionError  = "NodeAuthSigSessionKeyConversionError"
	CodeAuthSigSignatureConversionError   = "NodeAuthSigSignatureConversionError"
	CodeAuthSigSignedMessageConversion    = "NodeAuthSigSignedMessageConversionError"
	CodeParserError                       = "NodeParserError"
	CodeIatOutsideGracePeriod             = "NodeIatOutsideGracePeriod"
	CodeExpWrongOrTooLarge                = "NodeExpWrongOrTooLarge"
	CodeSIWEMessageError                  = "NodeSIWEMessageError"
	CodeNotAuthorized                     = "NodeNotAuthorized"
	CodeResourceIDNotFound                = "NodeResourceIdNotFound"
	CodeSIWECapabilityInvalid             = "NodeSIWECapabilityInvalid"
	CodeSIWESigConversionError            = "NodeSIWESigConversionError"
	CodePKPNotAuthorized                  = "NodePKPNotAuthorized"
	CodeInvalidCurveType                  = "NodeInvalidCurveType"
	CodeInvalidAuthSigForSessionKey       = "NodeInvalidAuthSigForSessionKey"
	CodeInvalidAuthContextResource        = "NodeInvalidAuthContextResource"
	CodePaymentFailed                     = "PaymentFailed"
	CodeBadInput                          = "NodeBadInput"
	CodeSystemFault                       = "NodeSystemFault"
	CodeOldEndpointVersion                = "OldEndpointVersionNoLongerSupported"
	CodeMissingRequestID                  = "CoreApiMissingRequiredXRequestIdHeader"
	CodeInvalidSDKVersion                 = "CoreApiInvalidXSDKVersionHeader"
	// ---- Lit Actions (docs/naga-wire.md §8, §11.2) ----
	CodeInvalidIPFSID      = "NodeInvalidIPFSID"
	CodeJsExecutionError   = "NodeJsExecutionError"
	CodeJsTimeoutError     = "NodeJsTimeoutError"
	CodeJsMemoryLimitError = "NodeJsMemoryLimitError"
	// ---- end Lit Actions ----
	// CodeRequestTimeout is not a PublicError code: it is the plain string a
	// node puts in errorObject (or errorCode, without a session) when its
	// own request timeout fires (docs/naga-wire.md §11.1).
	CodeRequestTimeout = "request_timeout"
)

// codeInfo is what a node derives from an error code: its kind, HTTP status
// and doc text (docs/naga-wire.md §11.1: status and message come from the code).
type codeInfo struct {
	kind    string
	status  int
	message string
}

// codes maps each code to its kind and status (docs/naga-wire.md §11.2, docs/naga-auth.md §6
// "HTTP statuses"). The messages are the devnet's wording of each code's
// meaning, except NodeInvalidAuthSig whose text docs/naga-wire.md §11.1 quotes.
var codes = map[string]codeInfo{
	CodeInvalidAuthSig:                    {"Validation", 401, "auth_sig passed is invalid or couldn't be verified"},
	CodeInvalidAuthSigSessionKeySignature: {"Validation", 400, "session key signature is not valid"},
	CodeAuthSigAddressConversionError:     {"Conversion", 400, "auth_sig address could not be converted to a session public key"},
	CodeAuthSigSessionKeyConversionError:  {"Conversion", 400, "session public key could not be converted to a verifying key"},
	CodeAuthSigSignatureConversionError:   {"Conversion", 400, "auth_sig signature could not be converted to an ed25519 signature"},
	CodeAuthSigSignedMessageConversion:    {"Validation", 400, "auth_sig signed message could not be converted"},
	CodeParserError:                       {"Parser", 400, "a value could not be parsed"},
	CodeIatOutsideGracePeriod:             {"Validation", 403, "issued at is outside of the grace period"},
	CodeExpWrongOrTooLarge:                {"Validation", 403, "expiration is wrong or too large"},
	CodeSIWEMessageError:                  {"Validation", 400, "SIWE message is invalid"},
	CodeNotAuthorized:                     {"Validation", 403, "not authorized"},
	CodeResourceIDNotFound:                {"Validation", 404, "resource id not found"},
	CodeSIWECapabilityInvalid:             {"Validation", 400, "SIWE capability is invalid"},
	CodeSIWESigConversionError:            {"Conversion", 400, "SIWE signature could not be converted"},
	CodePKPNotAuthorized:                  {"Validation", 401, "PKP is not authorized for this auth method"},
	CodeInvalidCurveType:                  {"Validation", 400, "invalid curve type"},
	CodeInvalidAuthSigForSessionKey:       {"Validation", 400, "an auth sig must not be sent to sign a session key"},
	CodeInvalidAuthContextResource:        {"Validation", 401, "the lit-resolvedauthcontext resource is reserved for nodes"},
	CodePaymentFailed:                     {"Validation", 402, "Payment failed"},
	CodeBadInput:                          {"Blockchain", 422, "bad input: the request body did not deserialize"},
	CodeSystemFault:                       {"Unexpected", 500, "system fault"},
	CodeOldEndpointVersion:                {"Validation", 410, "this endpoint version is no longer supported"},
	CodeMissingRequestID:                  {"Validation", 400, "the X-Request-Id header is required"},
	CodeInvalidSDKVersion:                 {"Validation", 400, "the X-Lit-SDK-Version header is not a valid semver version"},
	// ---- Lit Actions (docs/naga-wire.md §11.2: Validation / 400 and 502) ----
	CodeInvalidIPFSID:      {"Validation", 400, "invalid IPFS id: no code or ipfs hash, or the code could not be retrieved"},
	CodeJsExecutionError:   {"Validation", 502, "the Lit Action failed to execute"},
	CodeJsTimeoutError:     {"Validation", 502, "the Lit Action timed out"},
	CodeJsMemoryLimitError: {"Validation", 502, "the Lit Action exceeded its memory limit"},
	// ---- end Lit Actions ----
}

// apiError is a node-side failure on its way to the wire: the innermost
// coded cause (code, and hence kind, status and message) plus the chain of
// messages from the outermost wrap inwards (details), and the short text of
// GenericResponse.error.
type apiError struct {
	short   string
	code    string // "" for errors the node reports without a code
	kind    string
	status  int
	message string
	details []string
	// ---- Lit Actions (docs/naga-wire.md §8.2, §11.1) ----
	// logs, when set, is appended to the PublicError (handle_with_logs).
	logs *string
	// object, when set, replaces the PublicError as errorObject: a thrown
	// action's source error carries its logs there instead.
	object *string
	// ---- end Lit Actions ----
}

// codedErr makes an error carrying a node error code; details describe the
// cause, innermost last.
func codedErr(code string, details ...string) *apiError {
	ci, ok := codes[code]
	if !ok {
		panic("devnet: unknown error code " + code)
	}
	return &apiError{short: ci.message, code: code, kind: ci.kind, status: ci.status, message: ci.message, details: details}
}

// plainErr makes an error without a code, for failures whose code the spec
// does not name (the node reports kind, status and message only).
func plainErr(kind string, status int, message string, details ...string) *apiError {
	return &apiError{short: message, kind: kind, status: status, message: message, details: details}
}

// wrap puts an outer layer around e, as a node's error chain does: the
// innermost code stays what is reported (docs/naga-wire.md §11.1), the outer
// message goes first in details.
func (e *apiError) wrap(outer string) *apiError {
	e.details = append([]string{outer}, e.details...)
	return e
}

// withShort sets the GenericResponse.error text of the endpoint.
func (e *apiError) withShort(s string) *apiError {
	e.short = s
	return e
}

// public renders the PublicError of e.
func (e *apiError) public(correlationID string) PublicError {
	return PublicError{
		ErrorKind:     e.kind,
		ErrorCode:     e.code,
		Status:        e.status,
		Message:       e.message,
		CorrelationID: correlationID,
		Details:       e.details,
		Logs:          e.logs,
	}
}

// generic renders e as an error GenericResponse whose errorObject is the
// JSON text of the PublicError (docs/naga-wire.md §5.3, §13.4 step 4).
func (e *apiError) generic(correlationID string) GenericResponse {
	obj := string(mustMarshal(e.public(correlationID)))
	if e.object != nil { // Lit Actions: a thrown action's logs (docs/naga-wire.md §8.2)
		obj = *e.object
	}
	short := e.short
	return GenericResponse{OK: false, Error: &short, ErrorObject: &obj, Data: nil}
}

// okResponse wraps data in a success GenericResponse.
func okResponse(data any) GenericResponse {
	return GenericResponse{OK: true, Data: data}
}

// mustMarshal marshals values that cannot fail (no channels, funcs, NaNs).
func mustMarshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("devnet: marshal: " + err.Error())
	}
	return b
}

// writeJSON writes a plain JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
