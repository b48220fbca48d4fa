// A private certificate authority for tests, made with the openssl command line: a CA certificate and
// leaf certificates for given DNS names, so TLS checks (MTA-STS, DANE-TA, smarthosts) can pass or fail
// for the right reason. Every file lives in a temp dir.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface IssuedCert {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

export interface TestCa {
  dir: string;
  /** PEM of the CA certificate (trust anchor) */
  caCert: string;
  caCertPath: string;
  /** a leaf certificate for the names (first is the subject CN), signed by this CA */
  issue(names: string[], opts?: { days?: number }): Promise<IssuedCert>;
}

let counter = 0;

export async function createTestCa(name = "Postamt Test CA"): Promise<TestCa> {
  const dir = await mkdtemp(join(tmpdir(), "postamt-ca-"));
  const caKeyPath = join(dir, "ca.key");
  const caCertPath = join(dir, "ca.pem");
  await run("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", caKeyPath, "-out", caCertPath, "-days", "30", "-subj", `/CN=${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  const caCert = await readFile(caCertPath, "utf8");
  return {
    dir,
    caCert,
    caCertPath,
    async issue(names, opts = {}) {
      const n = ++counter;
      const keyPath = join(dir, `leaf${n}.key`);
      const csrPath = join(dir, `leaf${n}.csr`);
      const certPath = join(dir, `leaf${n}.pem`);
      const extPath = join(dir, `leaf${n}.ext`);
      await run("openssl", [
        "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", keyPath, "-out", csrPath, "-subj", `/CN=${names[0]}`,
      ]);
      await writeFile(
        extPath,
        `subjectAltName=${names.map((d) => `DNS:${d}`).join(",")}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`,
      );
      await run("openssl", [
        "x509", "-req", "-in", csrPath, "-CA", caCertPath, "-CAkey", caKeyPath, "-CAcreateserial",
        "-out", certPath, "-days", String(opts.days ?? 30), "-extfile", extPath,
      ]);
      return { cert: await readFile(certPath, "utf8"), key: await readFile(keyPath, "utf8"), certPath, keyPath };
    },
  };
}
