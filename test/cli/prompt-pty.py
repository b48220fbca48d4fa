# Drives `postamt user add` through a real pseudo-terminal, as a person typing would, and prints what
# the terminal showed. Used by prompt.test.ts to check that the password is asked for without echo.
import os, pty, sys, time

argv = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)

out = b""
def read_until(marker, timeout=10.0):
    global out
    deadline = time.time() + timeout
    while marker not in out and time.time() < deadline:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return marker in out

ok = read_until(b"Password for")
os.write(fd, b"typed-secret\r")
ok = ok and read_until(b"Repeat the password")
os.write(fd, b"typed-secret\r")
read_until(b"added user", 20.0)
try:
    while True:
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        out += chunk
except OSError:
    pass
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
