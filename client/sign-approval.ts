import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { SignedApproval } from '../domain/approval-policy';
import { APPROVAL_NAMESPACE } from '../domain/ssh-signature';

/** A signature could not be made: no ssh-keygen, no key, a wrong passphrase. */
export class SigningError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SigningError';
  }
}

/**
 * Signs an approval statement with `ssh-keygen -Y sign -n meridian-approval`, the tool that signs
 * git commits with SSH keys. `keyFile` is a private key, or a public key whose private half an
 * ssh-agent holds; a passphrase is asked for on the terminal, as ssh-keygen always does.
 */
export function signApproval(statement: string, keyFile: string, sshKeygen = process.env.MERIDIAN_SSH_KEYGEN || 'ssh-keygen'): Promise<SignedApproval> {
  if (!existsSync(keyFile)) return Promise.reject(new SigningError(`no key at ${keyFile}; name your SSH Ed25519 key with --sign-with (for example ~/.ssh/id_ed25519)`));
  return new Promise((resolve, reject) => {
    const child = spawn(sshKeygen, ['-Y', 'sign', '-f', keyFile, '-n', APPROVAL_NAMESPACE], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new SigningError(e.code === 'ENOENT' ? `${sshKeygen} was not found; install OpenSSH (Debian: apt-get install openssh-client) to sign approvals` : `${sshKeygen}: ${e.message}`)),
    );
    child.on('close', (code) => {
      if (code === 0 && out.includes('BEGIN SSH SIGNATURE')) resolve({ statement, signature: out });
      else reject(new SigningError(`${sshKeygen} -Y sign -f ${keyFile} failed (exit ${code}): ${err.replace(/^Signing data on standard input\n?/m, '').trim() || 'no signature written'}`));
    });
    child.stdin.end(statement);
  });
}
