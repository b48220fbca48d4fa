// The pure SMTP protocol layer: framing, parsing, replies and the DATA/BDAT receivers.
// No sockets, store or config; every function here is safe to fuzz.

export * from "./address.js";
export * from "./bdat-receiver.js";
export * from "./command-parser.js";
export * from "./data-receiver.js";
export * from "./ehlo.js";
export * from "./extensions.js";
export * from "./line-reader.js";
export * from "./params.js";
export * from "./reply.js";
