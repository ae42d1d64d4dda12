/* Descriptions of the library's API error codes (common.h). A switch
 * rather than a table of pointers keeps this out of .data.rel.ro in PIC
 * builds: only string literals, no relocated data. */
#include "chat/common.h"

const char *chat_strerror(int err)
{
    switch (err) {
    case CHAT_OK: return "success";
    case CHAT_E_INVAL: return "invalid argument";
    case CHAT_E_STATE: return "call not valid in the current state";
    case CHAT_E_NOMEM: return "out of memory";
    case CHAT_E_FULL: return "buffer or queue full";
    case CHAT_E_AGAIN: return "incomplete input, more bytes needed";
    case CHAT_E_NOTFOUND: return "not found";
    case CHAT_E_EXISTS: return "already exists";
    case CHAT_E_STORE: return "account store failure";
    case CHAT_E_PROTO: return "protocol error";
    case CHAT_E_DECRYPT: return "authentication failed (decryption)";
    case CHAT_E_TOOBIG: return "length over its limit";
    case CHAT_E_CLOSED: return "connection closed";
    case CHAT_E_CRYPTO: return "cryptographic operation failed";
    case CHAT_E_NONCE: return "nonce exhausted";
    default: return "unknown error";
    }
}
