// The agent's password checks; the hash format lives in builder/secrets so `mvos user passwd` writes the same one.
export { hashPassword, verifyPassword } from '../../builder/secrets/password.ts';
