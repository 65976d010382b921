#pragma once
// Umbrella header: everything lastmile offers.
#include <lastmile/version.hpp>
#include <lastmile/core/error.hpp>
#include <lastmile/core/cursor.hpp>
#include <lastmile/core/topic.hpp>
#include <lastmile/core/event.hpp>
#include <lastmile/core/concepts.hpp>
#include <lastmile/log/memory_log.hpp>
#include <lastmile/hub.hpp>
