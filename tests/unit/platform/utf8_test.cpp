// The UTF-8 checks that keep keys, lines, listings and API answers parsable.
#include "platform/utf8.h"

#include <gtest/gtest.h>

namespace granary {
namespace {

TEST(Utf8Test, WellFormedOnly) {
  EXPECT_TRUE(IsValidUtf8("granary/h017/a b+c=d\xE2\x82\xAC~"));
  EXPECT_TRUE(IsValidUtf8("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(IsValidUtf8("a\xFF"));
  EXPECT_FALSE(IsValidUtf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(IsValidUtf8("\xED\xA0\x80"));      // a surrogate
  EXPECT_FALSE(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  EXPECT_FALSE(IsValidUtf8("\xE2\x82"));          // cut short
}

TEST(Utf8Test, ValidBytesNamesTheFirstStrayByte) {
  EXPECT_EQ(Utf8ValidBytes("abc"), 3u);
  EXPECT_EQ(Utf8ValidBytes("met\xFF"
                           "er"),
            3u);
  EXPECT_EQ(Utf8ValidBytes("\xE2\x82\xAC\xE2\x82"), 3u);  // a whole euro, then a cut one
}

TEST(Utf8Test, RepairReplacesEachStrayByte) {
  EXPECT_EQ(RepairUtf8("a\xFF"
                       "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(RepairUtf8("\xE2\x82\xAC"), "\xE2\x82\xAC");
}

TEST(Utf8Test, PrefixNeverCutsACharacter) {
  EXPECT_EQ(Utf8Prefix("ab\xE2\x82\xAC", 3), "ab");
  EXPECT_EQ(Utf8Prefix("ab\xE2\x82\xAC", 5), "ab\xE2\x82\xAC");
}

}  // namespace
}  // namespace granary
