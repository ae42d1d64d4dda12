/* libchat: a sans-I/O secure chat protocol library. One include for all. */
#ifndef CHAT_CHAT_H
#define CHAT_CHAT_H

#include "chat/common.h"
#include "chat/codec.h"
#include "chat/noise.h"
#include "chat/verifier.h"
#include "chat/store.h"
#include "chat/client.h"
#include "chat/hub.h"

#define CHAT_LIB_VERSION "0.1.0"

#endif
