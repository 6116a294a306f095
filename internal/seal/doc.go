// Package seal encrypts small secrets at rest with AES-256-GCM: the
// certificate storage's private keys (condocert) and the database tier's
// tenant login passwords (condo) use this one implementation and one key.
//
// # Format
//
// A sealed value is nonce || ciphertext || tag, the nonce random (12
// bytes). The caller's additional data (a storage key, a tenant id) is
// bound to the value, so a sealed value moved to another row does not open.
package seal
