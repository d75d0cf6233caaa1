package consumer

import (
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxJobDepth bounds the nesting of a job body (objects and arrays, the
// body itself counting 1): deeper bodies are bad_request, never parsed.
const maxJobDepth = 32

// envelope is a job body scanned leniently: its top-level fields as raw
// JSON, so that the id and the reply subject can be recovered from a body
// that is oversize, too deep, wrongly typed, truncated or followed by
// trailing data, and the error result can be addressed (issue: every job
// with a recognisable id gets exactly one result). The scanner is
// iterative and never recurses, so no input makes it use more than O(1)
// stack; it does not validate values (strict decoding does).
type envelope struct {
	fields map[string]json.RawMessage
	order  []string
	// deepest is the field whose value nests deepest, with its depth.
	deepest string
	depth   int
	// dup is the first field that appears twice.
	dup string
	// syntax is set when the body is not one JSON object; the fields read
	// before the error are kept.
	syntax string
	// trailing: data after the object.
	trailing bool
}

// scanEnvelope scans data as one JSON object.
func scanEnvelope(data []byte) envelope {
	env := envelope{fields: map[string]json.RawMessage{}}
	i := skipWS(data, 0)
	if i >= len(data) || data[i] != '{' {
		env.syntax = "the job is not a JSON object"
		return env
	}
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		env.trailing = skipWS(data, i+1) < len(data)
		return env
	}
	for {
		if i >= len(data) || data[i] != '"' {
			env.syntax = fmt.Sprintf("expected a field name at offset %d", i)
			return env
		}
		end, ok := skipString(data, i)
		if !ok {
			env.syntax = "unterminated field name"
			return env
		}
		name, plain := plainJSONString(data[i:end])
		if !plain {
			if err := json.Unmarshal(data[i:end], &name); err != nil {
				env.syntax = fmt.Sprintf("field name at offset %d: %v", i, err)
				return env
			}
		}
		i = skipWS(data, end)
		if i >= len(data) || data[i] != ':' {
			env.syntax = fmt.Sprintf("expected ':' after field %q", name)
			return env
		}
		i = skipWS(data, i+1)
		vend, depth, ok := skipValue(data, i)
		if !ok {
			env.syntax = fmt.Sprintf("the value of field %q is not complete JSON", name)
			return env
		}
		if _, seen := env.fields[name]; seen {
			if env.dup == "" {
				env.dup = name
			}
		} else {
			env.fields[name] = json.RawMessage(data[i:vend])
			env.order = append(env.order, name)
		}
		if depth > env.depth {
			env.depth, env.deepest = depth, name
		}
		i = skipWS(data, vend)
		if i < len(data) && data[i] == ',' {
			i = skipWS(data, i+1)
			continue
		}
		if i < len(data) && data[i] == '}' {
			env.trailing = skipWS(data, i+1) < len(data)
			return env
		}
		env.syntax = fmt.Sprintf("expected ',' or '}' after field %q", name)
		return env
	}
}

func skipWS(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at data[i] ('"').
func skipString(data []byte, i int) (int, bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return len(data), false
}

// plainJSONString returns the text of a JSON string without escapes: a
// quoted run of valid UTF-8 with no backslash, no quote and no control
// character, which encoding/json decodes to exactly the bytes between the
// quotes. ok is false for anything else (escapes, invalid UTF-8, not a
// string), which the caller decodes with encoding/json.
func plainJSONString(raw []byte) (s string, ok bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	ascii := true
	for _, c := range inner {
		switch {
		case c < 0x20 || c == '"' || c == '\\':
			return "", false
		case c >= 0x80:
			ascii = false
		}
	}
	if !ascii && !utf8.Valid(inner) {
		return "", false
	}
	return string(inner), true
}

// jsonString decodes a raw JSON string value: the plain form without
// encoding/json, anything else with it.
func jsonString(raw []byte) (string, bool) {
	if s, ok := plainJSONString(raw); ok {
		return s, true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// skipValue returns the index after the value starting at data[i] and its
// nesting depth (1 for an object or array, 0 for a scalar).
func skipValue(data []byte, i int) (end, maxDepth int, ok bool) {
	if i >= len(data) {
		return i, 0, false
	}
	switch data[i] {
	case '"':
		end, ok = skipString(data, i)
		return end, 0, ok
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				e, ok := skipString(data, j)
				if !ok {
					return len(data), maxDepth, false
				}
				j = e - 1
			case '{', '[':
				depth++
				maxDepth = max(maxDepth, depth)
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, maxDepth, true
				}
			}
		}
		return len(data), maxDepth, false
	}
	j := i
	for j < len(data) && data[j] != ',' && data[j] != '}' && data[j] != ']' && data[j] != ' ' && data[j] != '\t' && data[j] != '\n' && data[j] != '\r' {
		j++
	}
	return j, 0, j > i
}

// jsonType names the JSON type of a raw value, for error messages.
func jsonType(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// recoverID returns the job id a field holds if it is usable as one: a
// valid id string, or a number whose digits are a valid id (a producer that
// sends "id":123 still gets its bad_request on 123).
func recoverID(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		if s, ok := jsonString(raw); ok && checkJobID(s) == nil {
			return s
		}
		return ""
	}
	if _, err := strconv.ParseUint(string(raw), 10, 64); err == nil && checkJobID(string(raw)) == nil {
		return string(raw)
	}
	return ""
}

// validJSONText reports whether a raw JSON string value holds valid UTF-8
// text: no invalid bytes and no unpaired surrogate escape (encoding/json
// would turn either into U+FFFD silently, and a signature over the
// replacement is not what the producer meant).
func validJSONText(raw json.RawMessage) bool {
	if !utf8.Valid(raw) {
		return false
	}
	for i := 0; i+5 < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		if raw[i+1] != 'u' {
			i++ // skip the escaped character (it may be a backslash)
			continue
		}
		r, err := strconv.ParseUint(string(raw[i+2:i+6]), 16, 32)
		if err != nil {
			return false
		}
		switch {
		case r >= 0xD800 && r <= 0xDBFF:
			if i+11 >= len(raw) || raw[i+6] != '\\' || raw[i+7] != 'u' {
				return false
			}
			lo, err := strconv.ParseUint(string(raw[i+8:i+12]), 16, 32)
			if err != nil || lo < 0xDC00 || lo > 0xDFFF {
				return false
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return false
		default:
			i += 5
		}
	}
	return true
}
