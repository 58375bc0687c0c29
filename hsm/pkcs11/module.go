package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/pkcs11"

	"github.com/muhr-pki/muhr/hsm"
)

// A PKCS#11 library is initialised once per process: a second C_Initialize
// answers CKR_CRYPTOKI_ALREADY_INITIALIZED and one C_Finalize ends it for
// every user. So each library is shared through this refcounted registry and
// finalised only when its last user lets go. It is the package's only
// mutable global, and unavoidable for that reason.
var registry = struct {
	sync.Mutex
	mods map[string]*module
}{mods: map[string]*module{}}

// module is one loaded PKCS#11 library.
type module struct {
	path string
	ctx  *pkcs11.Ctx
	refs int // guarded by registry
	// owned is false when something else in the process (not this package)
	// had initialised the library first; then we never finalise it.
	owned bool
	// initMu serialises C_InitToken: two callers would otherwise pick the
	// same free slot.
	initMu sync.Mutex
	// opMu is held shared by every PKCS#11 call on a session and exclusive
	// by reinit: C_Finalize closes every session, and SoftHSM2 crashes when
	// a session is closed under a C_Sign running on another thread.
	opMu sync.RWMutex
	// epoch counts re-initialisations. Session handles and slot numbers
	// from an earlier epoch are void (a new session may get the same
	// number), so each session carries the epoch it was opened in.
	epoch atomic.Uint64
}

// reinit finalises and initialises the library again, so that it rescans
// its slots: SoftHSM2 reads its token directory only in C_Initialize and
// never sees a token directory restored (or a token.object repaired) after
// that. Only a library this package initialised is re-initialised.
func (m *module) reinit() error {
	if !m.owned {
		return fmt.Errorf("%w %s: initialised by another part of the process, so it is not re-initialised", hsm.ErrModule, m.path)
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	_ = m.ctx.Finalize() // fails harmlessly if something else finalised it
	m.epoch.Add(1)       // whatever Initialize says, old sessions are gone
	if err := m.ctx.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		return fmt.Errorf("%w %s: C_Initialize: %w", hsm.ErrModule, m.path, err)
	}
	return nil
}

// moduleKey makes two spellings of one library (a symlink and its target)
// share an entry, since dlopen hands back the same library for both.
func moduleKey(path string) string {
	if !strings.Contains(path, "/") {
		return path // left to dlopen's search path
	}
	if p, err := filepath.EvalSymlinks(path); err == nil {
		return p
	}
	return filepath.Clean(path)
}

// openModule loads and initialises the library at path, or takes another
// reference to it.
func openModule(path string) (*module, error) {
	m, _, err := openModuleFresh(path)
	return m, err
}

// openModuleFresh is openModule that also says whether this call
// initialised the library (so it has just read the token files).
func openModuleFresh(path string) (*module, bool, error) {
	if path == "" {
		return nil, false, fmt.Errorf("%w: no module path given (the vendor's PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so)", hsm.ErrModule)
	}
	key := moduleKey(path)
	registry.Lock()
	defer registry.Unlock()
	if m, ok := registry.mods[key]; ok {
		m.refs++
		return m, false, nil
	}
	if strings.Contains(path, "/") {
		if _, err := os.Stat(path); err != nil {
			return nil, false, fmt.Errorf("%w %s: %v", hsm.ErrModule, path, pathError(err))
		}
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, false, fmt.Errorf("%w %s: dlopen failed or it exports no C_GetFunctionList (is it a PKCS#11 library for this architecture?)", hsm.ErrModule, path)
	}
	owned := true
	if err := ctx.Initialize(); err != nil {
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
			ctx.Destroy()
			return nil, false, fmt.Errorf("%w %s: C_Initialize: %w", hsm.ErrModule, path, err)
		}
		owned = false
	}
	m := &module{path: path, ctx: ctx, refs: 1, owned: owned}
	registry.mods[key] = m
	return m, true, nil
}

func pathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// release drops one reference; the last one finalises and unloads.
func (m *module) release() {
	registry.Lock()
	defer registry.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(registry.mods, moduleKey(m.path))
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if m.owned {
		_ = m.ctx.Finalize() // nothing useful to do with a failure here
	}
	m.ctx.Destroy()
}
