// SPDX-License-Identifier: Apache-2.0
// Encodings and framing: the bytes every other part relies on.
#include <gtest/gtest.h>
#include <unistd.h>

#include "p2pcp/common/digest.hpp"
#include "p2pcp/common/encoding.hpp"
#include "p2pcp/common/framing.hpp"

namespace p2pcp {
namespace {

TEST(Encoding, HexRoundTripAndRejects) {
  const Bytes data{0x00, 0x01, 0xab, 0xff};
  EXPECT_EQ(toHex(data), "0001abff");
  EXPECT_EQ(fromHex("0001ABff"), data);
  EXPECT_FALSE(fromHex("abc"));
  EXPECT_FALSE(fromHex("zz"));
  EXPECT_EQ(fromHex(""), Bytes{});
}

TEST(Encoding, Base64IsStrict) {
  // RFC 4648 test vectors.
  EXPECT_EQ(toBase64(asBytes("")), "");
  EXPECT_EQ(toBase64(asBytes("f")), "Zg==");
  EXPECT_EQ(toBase64(asBytes("fo")), "Zm8=");
  EXPECT_EQ(toBase64(asBytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(fromBase64("Zm9vYg=="), Bytes(asBytes("foob").begin(), asBytes("foob").end()));
  EXPECT_EQ(fromBase64("Zm8="), Bytes(asBytes("fo").begin(), asBytes("fo").end()));
  EXPECT_FALSE(fromBase64("Zm8"));
  EXPECT_FALSE(fromBase64(" Zm8="));
  EXPECT_FALSE(fromBase64("Zm=8"));
  EXPECT_FALSE(fromBase64("Z==="));
  EXPECT_FALSE(fromBase64("Zm8-"));
  EXPECT_FALSE(fromBase64("Zg==Zg=="));
}

TEST(Encoding, U64BigEndian) {
  Bytes out;
  appendU64BigEndian(out, 0x0102030405060708ULL);
  EXPECT_EQ(toHex(out), "0102030405060708");
}

TEST(Digest, Sha256KnownAnswer) {
  EXPECT_EQ(toHex(sha256(asBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(toHex(Sha256Builder{}.add("a").add("bc").finish()), toHex(sha256(asBytes("abc"))));
}

class Pipe {
 public:
  Pipe() {
    if (::pipe(fds_) != 0) {
      throw std::runtime_error("pipe");
    }
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  ~Pipe() {
    closeWrite();
    ::close(fds_[0]);
  }
  [[nodiscard]] int read() const { return fds_[0]; }
  [[nodiscard]] int write() const { return fds_[1]; }
  void closeWrite() {
    if (fds_[1] >= 0) {
      ::close(fds_[1]);
      fds_[1] = -1;
    }
  }

 private:
  int fds_[2]{-1, -1};
};

TEST(Framing, RoundTripBothByteOrders) {
  for (const auto order : {LengthOrder::BigEndian, LengthOrder::Native}) {
    Pipe pipe;
    writeFrame(pipe.write(), "{\"a\":1}", order, 100);
    writeFrame(pipe.write(), "", order, 100);
    pipe.closeWrite();
    EXPECT_EQ(readFrame(pipe.read(), order, 100), "{\"a\":1}");
    EXPECT_EQ(readFrame(pipe.read(), order, 100), "");
    EXPECT_EQ(readFrame(pipe.read(), order, 100), std::nullopt) << "clean end of stream";
  }
}

TEST(Framing, BigEndianPrefixBytes) {
  const std::string frame = makeFrame("xy", LengthOrder::BigEndian, 10);
  EXPECT_EQ(frame, std::string("\0\0\0\2xy", 6));
}

TEST(Framing, OversizeIsRefusedBeforeReadingThePayload) {
  Pipe pipe;
  std::string header(4, '\0');
  encodeLength(1000, reinterpret_cast<std::uint8_t*>(header.data()), LengthOrder::BigEndian);
  writeFully(pipe.write(), header.data(), header.size());
  try {
    (void)readFrame(pipe.read(), LengthOrder::BigEndian, 999);
    FAIL() << "no error";
  } catch (const FramingError& e) {
    EXPECT_EQ(e.kind(), FramingError::Kind::TooLarge);
  }
  EXPECT_THROW((void)makeFrame(std::string(11, 'a'), LengthOrder::Native, 10), FramingError);
}

TEST(Framing, TruncationIsAnError) {
  for (const std::string& bytes : {std::string("\0\0", 2), std::string("\0\0\0\x05"
                                                                       "abc",
                                                                       7)}) {
    Pipe pipe;
    writeFully(pipe.write(), bytes.data(), bytes.size());
    pipe.closeWrite();
    try {
      (void)readFrame(pipe.read(), LengthOrder::BigEndian, 100);
      FAIL() << "no error";
    } catch (const FramingError& e) {
      EXPECT_EQ(e.kind(), FramingError::Kind::Truncated);
    }
  }
}

}  // namespace
}  // namespace p2pcp
