package export

import (
	"math/bits"
	"unicode/utf8"
	"unsafe"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// valueKind is the type of an attribute value in an attrList.
type valueKind uint8

const (
	valueStr        valueKind = iota // str
	valueInt                         // num
	valueBool                        // num != 0
	valueStrs                        // strs: an array of strings
	valueBytes                       // str's bytes (the raw form of a string)
	valueBytesArray                  // strs' bytes: an array of bytes values
)

// attr is one attribute of an attrList.
type attr struct {
	key  string
	str  string // valueStr, valueBytes
	num  int64  // valueInt, valueBool (0 or 1); the arrays: index in attrList.lists
	kind valueKind
}

// attrList is the attributes of one log record, in order, before they are
// written into a pcommon.Map. Building them in a list of our own first lets
// the mapping reuse a record's map from one batch to the next (writeTo
// overwrites the values in place when the keys are the same) and bound a
// record's size before it is written.
//
// Its put methods append: a key is put at most once per record, except
// where mapAttrs calls dedupe. Strings are not copied: the list is valid
// while the event it was made from is.
type attrList struct {
	a     []attr
	lists [][]string // the values of the array attributes
	size  int        // protoSize of a
}

// reset empties the list. The attributes of the last record stay in the
// list's slots, to be compared with the next record's (put); their strings
// stay referenced until they are overwritten: one record's worth.
func (l *attrList) reset() {
	l.a = l.a[:0]
	l.lists = l.lists[:0]
	l.size = 0
}

// put appends an attribute. Its slot usually holds the same attribute of
// the previous record (a stream of similar events), with the very same
// strings: those are not written again, which spares the garbage
// collector's write barrier, which every pointer written while it marks
// goes through. Strings are compared by identity, not content: that costs
// no call, and identity is the common case (the keys are constants, the
// process's strings come from the provider's process cache).
func (l *attrList) put(k, str string, num int64, kind valueKind) {
	n := len(l.a)
	if n == cap(l.a) {
		l.a = append(l.a, attr{key: k, str: str, num: num, kind: kind})
		return
	}
	l.a = l.a[:n+1]
	a := &l.a[n]
	if !sameString(a.key, k) {
		a.key = k
	}
	if !sameString(a.str, str) {
		a.str = str
	}
	a.num, a.kind = num, kind
}

// sameString reports whether a and b are the same string: the same bytes
// in memory, not merely equal ones.
func sameString(a, b string) bool {
	return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b)
}

func (l *attrList) putStr(k, v string) {
	l.put(k, v, 0, valueStr)
	l.size += keyValueSize(k, fieldSize(len(v)))
}

func (l *attrList) putInt(k string, v int64) {
	l.put(k, "", v, valueInt)
	l.size += keyValueSize(k, 1+varintSize(uint64(v)))
}

func (l *attrList) putBool(k string, v bool) {
	var n int64
	if v {
		n = 1
	}
	l.put(k, "", n, valueBool)
	l.size += keyValueSize(k, 2)
}

func (l *attrList) putBytes(k, v string) {
	l.put(k, v, 0, valueBytes)
	l.size += keyValueSize(k, fieldSize(len(v)))
}

// putArray puts an array attribute; its values go to a slot of lists,
// which, like put, is written only when it holds another slice.
func (l *attrList) putArray(k string, kind valueKind, vs []string) {
	i := len(l.lists)
	l.put(k, "", int64(i), kind)
	if i == cap(l.lists) {
		l.lists = append(l.lists, vs)
	} else {
		l.lists = l.lists[:i+1]
		if old := l.lists[i]; len(old) != len(vs) || unsafe.SliceData(old) != unsafe.SliceData(vs) {
			l.lists[i] = vs
		}
	}
	l.size += keyValueSize(k, arraySize(vs))
}

// str puts a string attribute and reports whether v was valid UTF-8. A
// value that is not is written with each invalid byte replaced by U+FFFD,
// and its exact bytes go to RawPrefix+k.
func (l *attrList) str(k, v string) bool {
	valid := utf8.ValidString(v)
	l.strChecked(k, v, valid)
	return valid
}

// strPart is str for a part of a string (cut at ASCII bytes) that was
// valid UTF-8: then the part is too, and is not checked again.
func (l *attrList) strPart(k, v string, wholeValid bool) {
	if wholeValid {
		l.putStr(k, v)
		return
	}
	l.str(k, v)
}

// strChecked is str for a value whose validity is known.
func (l *attrList) strChecked(k, v string, valid bool) {
	if valid {
		l.putStr(k, v)
		return
	}
	l.putStr(k, validUTF8(v))
	l.putBytes(RawPrefix+k, v)
}

// strs puts a string array attribute. When any element is not valid UTF-8,
// RawPrefix+k holds the exact bytes of every element, so indices match.
// vs is kept, not copied.
func (l *attrList) strs(k string, vs []string) {
	bad := -1
	for i, v := range vs {
		if !utf8.ValidString(v) {
			bad = i
			break
		}
	}
	if bad < 0 {
		l.putArray(k, valueStrs, vs)
		return
	}
	valid := make([]string, len(vs))
	for i, v := range vs {
		if i >= bad && !utf8.ValidString(v) {
			v = validUTF8(v)
		}
		valid[i] = v
	}
	l.putArray(k, valueStrs, valid)
	l.putArray(RawPrefix+k, valueBytesArray, vs)
}

// remove deletes k as pcommon.Map.Remove does: the last attribute takes
// its place.
func (l *attrList) remove(k string) {
	for i := range l.a {
		if l.a[i].key == k {
			last := len(l.a) - 1
			l.a[i] = l.a[last]
			l.a = l.a[:last]
			l.resize()
			return
		}
	}
}

// dedupe merges attributes put more than once under one key as
// pcommon.Map's Put methods do: the first one's place, the last one's
// value.
func (l *attrList) dedupe() {
	out := l.a[:0]
	for _, a := range l.a {
		dup := false
		for i := range out {
			if out[i].key == a.key {
				out[i] = a
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, a)
		}
	}
	l.a = out
	l.resize()
}

// Sizes in OTLP protobuf, for the size bound of a batch. They are exact
// for what the mapping puts (every attribute has a key and a value), so
// the bound is the request's size within the few bytes of the fields it
// counts whether set or not (recordSize).

// varintSize is the size of v as a protobuf varint.
func varintSize(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

// fieldSize is the size of a length-delimited field of n bytes: tag,
// length, content.
func fieldSize(n int) int { return 1 + varintSize(uint64(n)) + n }

// keyValueSize is the size of an attribute as an entry of a repeated
// KeyValue field: the KeyValue holds the key and the AnyValue, whose
// content is anyValue bytes.
func keyValueSize(key string, anyValue int) int {
	return fieldSize(fieldSize(len(key)) + fieldSize(anyValue))
}

// arraySize is the size of an AnyValue's array_value field holding vs,
// each a string or bytes AnyValue.
func arraySize(vs []string) int {
	n := 0
	for _, s := range vs {
		n += fieldSize(fieldSize(len(s)))
	}
	return fieldSize(n)
}

// resize recomputes size after attributes were removed or merged.
func (l *attrList) resize() {
	l.size = 0
	for i := range l.a {
		a := &l.a[i]
		switch a.kind {
		case valueStr, valueBytes:
			l.size += keyValueSize(a.key, fieldSize(len(a.str)))
		case valueInt:
			l.size += keyValueSize(a.key, 1+varintSize(uint64(a.num)))
		case valueBool:
			l.size += keyValueSize(a.key, 2)
		case valueStrs, valueBytesArray:
			l.size += keyValueSize(a.key, arraySize(l.lists[a.num]))
		}
	}
}

// protoSize is the size of the attributes in OTLP protobuf, as the
// entries of a record's attributes field.
func (l *attrList) protoSize() int { return l.size }

// writeTo makes m hold exactly the attributes of l, in order. When m holds
// the same keys with values of the same types (the previous record written
// into it came from a similar event), the values are overwritten in place
// and nothing is allocated; otherwise m is rebuilt.
func (l *attrList) writeTo(m pcommon.Map) {
	if m.Len() == len(l.a) && l.overwrite(m) {
		return
	}
	m.RemoveIf(func(string, pcommon.Value) bool { return true }) // keeps the capacity
	m.EnsureCapacity(len(l.a))
	for i := range l.a {
		l.putTo(m, &l.a[i])
	}
}

// overwrite sets m's values to l's, in order, as long as the keys and types
// match; it reports whether all of them did. After false, m holds a mix and
// must be rebuilt.
func (l *attrList) overwrite(m pcommon.Map) bool {
	i, ok := 0, true
	m.Range(func(k string, v pcommon.Value) bool {
		if i >= len(l.a) || !l.set(&l.a[i], k, v) {
			ok = false
			return false
		}
		i++
		return true
	})
	return ok && i == len(l.a)
}

// set writes a into v, the value of key k, when k is a's key and v has a's
// type; it reports whether it did.
//
// A string equal to the one v holds is not written: most of a record's
// strings are the previous record's (the process's, the flags' names),
// usually the very same string, which compares equal without being read.
// Not writing them spares the garbage collector's write barrier, which
// every pointer written while it marks goes through.
func (l *attrList) set(a *attr, k string, v pcommon.Value) bool {
	if k != a.key {
		return false
	}
	switch a.kind {
	case valueStr:
		if v.Type() != pcommon.ValueTypeStr {
			return false
		}
		if v.Str() != a.str {
			v.SetStr(a.str)
		}
	case valueInt:
		if v.Type() != pcommon.ValueTypeInt {
			return false
		}
		v.SetInt(a.num)
	case valueBool:
		if v.Type() != pcommon.ValueTypeBool {
			return false
		}
		v.SetBool(a.num != 0)
	case valueStrs:
		if v.Type() != pcommon.ValueTypeSlice {
			return false
		}
		s, vs := v.Slice(), l.lists[a.num]
		if s.Len() != len(vs) {
			return false
		}
		for j, str := range vs {
			if e := s.At(j); e.Str() != str {
				e.SetStr(str)
			}
		}
	default:
		// The raw bytes of invalid strings: rare, rebuilt.
		return false
	}
	return true
}

// putTo puts a into m.
func (l *attrList) putTo(m pcommon.Map, a *attr) {
	switch a.kind {
	case valueStr:
		m.PutStr(a.key, a.str)
	case valueInt:
		m.PutInt(a.key, a.num)
	case valueBool:
		m.PutBool(a.key, a.num != 0)
	case valueStrs:
		vs := l.lists[a.num]
		s := m.PutEmptySlice(a.key)
		s.EnsureCapacity(len(vs))
		for _, v := range vs {
			s.AppendEmpty().SetStr(v)
		}
	case valueBytes:
		m.PutEmptyBytes(a.key).FromRaw([]byte(a.str))
	case valueBytesArray:
		vs := l.lists[a.num]
		s := m.PutEmptySlice(a.key)
		s.EnsureCapacity(len(vs))
		for _, v := range vs {
			s.AppendEmpty().SetEmptyBytes().FromRaw([]byte(v))
		}
	}
}
